"""One centre click on noise-free synthetic shapes: where the shipped model's training (real,
band-limited micrographs only) stops covering the input. Prints IoU per shape.

    python scripts/synthetic_shapes.py [--weights W]

Model card, Limitations: "Perfectly sharp, axis-aligned edges fail".
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import ndimage as ndi

from napari_inter2former.session import Predictor

SIZE, CENTRE = 300, 150


def shapes() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (uint8 image, true mask): objects of 200 on 0."""
    yy, xx = np.mgrid[:SIZE, :SIZE] - CENTRE
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="a .safetensors file (default: the shipped weights)")
    args = parser.parse_args()
    predictor = Predictor(weights=args.weights) if args.weights else Predictor()
    for name, (image, truth) in shapes().items():
        predictor.set_image(image)
        mask = predictor.new_session().add_click(CENTRE, CENTRE).to_full(image.shape)
        iou = (mask & truth).sum() / (mask | truth).sum()
        print(f"{name:32s} IoU {iou:.2f}  ({int(mask.sum())} px of {int(truth.sum())})")


if __name__ == "__main__":
    main()
