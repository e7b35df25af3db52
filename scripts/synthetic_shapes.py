"""One centre click on synthetic shapes: where the shipped model's training (real micrographs
only) stops covering the input. Prints IoU per shape and the mean of each group.

    python scripts/synthetic_shapes.py [--weights W] [--group noise-free|straight|turned]

Groups:
- noise-free: uint8 objects of 200 on 0 with one-pixel step edges (binary masks, drawings);
- straight: objects with long axis-aligned straight edges as a microscope would show them
  (levels 0.2 / 0.8, Gaussian blur sigma 1.5, noise sd 0.03): squares, a rectangle, rods;
- turned: the same objects turned by 30 degrees, the control for `straight`.
Model card, Limitations: "Long axis-aligned straight edges fail".
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage as ndi

from napari_inter2former.session import Predictor

SIZE, CENTRE = 400, 200


def _grid() -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[:SIZE, :SIZE] - CENTRE
    return yy.astype(np.float64), xx.astype(np.float64)


def _rod(length: float, width: float, angle: float) -> np.ndarray:
    """A capsule (a rod with round ends) of this length and width, turned by `angle` degrees."""
    yy, xx = _grid()
    t = np.deg2rad(angle)
    u, v = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
    return (u - np.clip(u, -length / 2, length / 2)) ** 2 + v**2 < (width / 2) ** 2


def _box(height: float, width: float, angle: float) -> np.ndarray:
    yy, xx = _grid()
    t = np.deg2rad(angle)
    u, v = xx * np.cos(t) + yy * np.sin(t), -xx * np.sin(t) + yy * np.cos(t)
    return (abs(v) < height / 2) & (abs(u) < width / 2)


def noise_free() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (uint8 image, true mask): objects of 200 on 0."""
    yy, xx = _grid()
    masks = {
        "disk, radius 30": yy**2 + xx**2 < 900,
        "ellipse 60 x 30": (yy / 30.0) ** 2 + (xx / 15.0) ** 2 < 1,
        "square 59, turned 45°": (abs(yy + xx) < 42) & (abs(yy - xx) < 42),
        "square 39": (abs(yy) < 20) & (abs(xx) < 20),
        "square 59": (abs(yy) < 30) & (abs(xx) < 30),
    }
    out = {name: ((m * 200).astype(np.uint8), m) for name, m in masks.items()}
    square = masks["square 39"].astype(np.float32) * 200
    for sigma in (0.7, 1.0):
        out[f"square 39, Gaussian blur {sigma}"] = (ndi.gaussian_filter(square, sigma).astype(np.uint8),
                                                    masks["square 39"])
    turned = ndi.rotate(masks["square 39"].astype(np.float32), 10, reshape=False, order=1)
    out["square 39, turned 10°"] = ((turned * 200).astype(np.uint8), turned > 0.5)
    return out


def as_micrograph(mask: np.ndarray, seed: int) -> np.ndarray:
    """Levels 0.2 / 0.8, blurred by optics (sigma 1.5), camera noise (sd 0.03): float32 in [0, 1]."""
    noise = np.random.default_rng(seed).normal(0.0, 0.03, mask.shape)
    return np.clip(0.2 + ndi.gaussian_filter(mask * 0.6, 1.5) + noise, 0, 1).astype(np.float32)


def straight(angle: float = 0.0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Objects with long straight edges, axis-aligned at angle 0."""
    masks = {
        "square 39": _box(39, 39, angle),
        "square 79": _box(79, 79, angle),
        "square 119": _box(119, 119, angle),
        "rectangle 100 x 40": _box(40, 100, angle),
        "rod 120 x 30": _rod(120, 30, angle),
        "rod 160 x 24": _rod(160, 24, angle),
    }
    return {name: (as_micrograph(m, seed), m) for seed, (name, m) in enumerate(masks.items())}


GROUPS = {"noise-free": noise_free, "straight": straight, "turned": lambda: straight(30.0)}


def score(predictor: Predictor, shapes: dict[str, tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """name -> IoU of the mask after one click at the image centre."""
    out = {}
    for name, (image, truth) in shapes.items():
        predictor.set_image(image)
        mask = predictor.new_session().add_click(CENTRE, CENTRE).to_full(image.shape)
        out[name] = float((mask & truth).sum() / (mask | truth).sum())
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a .safetensors file (default: the shipped weights)")
    parser.add_argument("--group", choices=sorted(GROUPS), action="append",
                        help="shape groups to score (default: all)")
    args = parser.parse_args()
    predictor = Predictor(weights=args.weights) if args.weights else Predictor()
    for group in args.group or list(GROUPS):
        ious = score(predictor, GROUPS[group]())
        for name, iou in ious.items():
            print(f"{group:10s} {name:32s} IoU {iou:.2f}")
        print(f"{group:10s} {'mean':32s} IoU {np.mean(list(ious.values())):.3f}")


if __name__ == "__main__":
    main()
