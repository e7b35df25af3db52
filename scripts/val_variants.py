"""How the shipped model holds up when val images change contrast, pixel size or noise.

    python scripts/val_variants.py OUT_DIR [orig invert outlines x0.5 x2 x3 x4 noise blur shading] [--max-zoom Z] [--no-shrink]
                                   [--weights W] [--overhang PX]

Each variant is written as a data folder under OUT_DIR (images resampled linearly, labels by
nearest neighbour) and scored with the training loop's quick validator (at most 3 objects per
image, seed 0; clicks stop at IoU 0.90 after at least 5). A stand-in for the held-out
benchmark's other sources, which this project cannot see: it says whether the model depends on
the training data's polarity and scale, not how it does on other modalities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage as ndi

from napari_inter2former.evaluation.data import find_pairs, load_pair
from napari_inter2former.evaluation.validation import evaluate_predictor
from napari_inter2former.session import Predictor
from napari_inter2former.session.window import WindowPolicy

VAL = "../shared/data/val"


def variant(image: np.ndarray, labels: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray]:
    if kind == "invert":
        return image.max() - image, labels
    if kind == "outlines":  # objects drawn only by their outline, as membrane stains and EM show them
        grey = image.astype(np.float32) if image.ndim == 2 else image.astype(np.float32).mean(-1)
        edges = ndi.gaussian_gradient_magnitude(grey, 1.5)
        edges = np.clip(edges / (np.percentile(edges, 99.8) + 1e-6), 0, 1)
        return (edges * 255).astype(np.uint8), labels
    out = image.astype(np.float32)
    if kind.startswith("x"):  # pixel size divided by the factor: x2, x3, x0.5...
        f = float(kind[1:])
        out = ndi.zoom(out, (f, f, 1)[: image.ndim], order=1)
        labels = ndi.zoom(labels, f, order=0)
    elif kind == "noise":  # Gaussian noise at a tenth of the image's spread
        out = out + np.random.default_rng(0).normal(0, 0.1 * out.std() + 1e-6, out.shape)
    elif kind == "blur":  # out of focus: Gaussian, sigma 1.5 px
        out = ndi.gaussian_filter(out, (1.5, 1.5, 0)[: image.ndim])
    elif kind == "shading":  # uneven illumination: gain from 0.4 to 1.6 across the width
        gain = np.linspace(0.4, 1.6, image.shape[1], dtype=np.float32)[None, :]
        out = out * (gain[..., None] if image.ndim == 3 else gain)
    info = np.iinfo(image.dtype)
    return np.clip(np.rint(out), info.min, info.max).astype(image.dtype), labels


def write_variant(root: Path, kind: str) -> Path:
    folder = root / kind
    if (folder / "labels").is_dir() and len(list((folder / "labels").iterdir())) == len(find_pairs(VAL)):
        return folder  # written by an earlier run
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    for pair in find_pairs(VAL):
        loaded = load_pair(pair)
        image, labels = variant(loaded.image, loaded.labels, kind)
        tifffile.imwrite(folder / "images" / f"{pair.name}.tif", image, compression="zlib")
        tifffile.imwrite(folder / "labels" / f"{pair.name}.tif", labels.astype(np.uint16), compression="zlib")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out")
    parser.add_argument("kinds", nargs="*", default=["orig", "invert", "x0.5", "x2", "noise"])
    parser.add_argument("--max-zoom", type=float, default=WindowPolicy.max_zoom)
    parser.add_argument("--no-shrink", action="store_true", help="decode large windows natively")
    parser.add_argument("--overhang", type=int, default=WindowPolicy.overhang,
                        help="px a window may reach past the image border (0: windows stay inside)")
    parser.add_argument("--weights", default="default", help="a .safetensors file (default: the shipped weights)")
    args = parser.parse_args()
    for kind in args.kinds:
        data = VAL if kind == "orig" else write_variant(Path(args.out), kind)
        policy = WindowPolicy(max_zoom=args.max_zoom, shrink=not args.no_shrink, overhang=args.overhang)
        predictor = Predictor(weights=args.weights, threads=2, window_policy=policy)
        report = evaluate_predictor(predictor, data, max_per_image=3, limit_images=None)
        for subset, m in report["subsets"].items():
            print(f"{kind:7s} {subset:9s} objects {m['objects']:4d}  NoC@90 {m['noc90']:5.2f}  NoF@90 {m['nof90']:3d}  "
                  f"mIoU@1 {m['miou1']:.3f}  mIoU@5 {m['miou5']:.3f}", flush=True)


if __name__ == "__main__":
    main()
