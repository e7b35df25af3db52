"""Finding and loading image/label pairs in the `images/NAME.tif` + `labels/NAME.tif` layout.

A pair is a 2-D image ((H, W) grey or (H, W, C) colour, label (H, W)) or a volume
(image (Z, H, W) or (Z, H, W, C), label (Z, H, W)): the label's dimensionality decides.
The subset of a pair is its file-name prefix before the first `_` (`dsb`, `usiigaci`).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import zip_longest
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".tif", ".tiff")


class DataError(ValueError):
    """The evaluation data cannot be used: missing folder or file, or mismatched shapes."""


def subset_of(name: str) -> str:
    """Data subset of an image name: the prefix before the first `_` (the whole stem if none)."""
    return Path(name).stem.split("_", 1)[0]


@dataclass(frozen=True)
class Pair:
    name: str
    image_path: Path
    label_path: Path

    @property
    def subset(self) -> str:
        return subset_of(self.name)


@dataclass
class Loaded:
    """A loaded pair: `image` and `labels` as arrays, `volume` when the labels are 3-D."""

    pair: Pair
    image: np.ndarray
    labels: np.ndarray

    @property
    def volume(self) -> bool:
        return self.labels.ndim == 3


def read_tiff(path: Path) -> np.ndarray:
    """The array in a TIFF file; DataError naming the file if it cannot be read or is empty."""
    import tifffile

    try:
        array = tifffile.imread(path)
    except Exception as exc:  # tifffile raises several types for broken files
        raise DataError(f"cannot read {path}: {exc}") from exc
    if array.size == 0:  # a truncated file can read as shape (0,): say so, not that shapes differ
        raise DataError(f"{path}: not a readable image (corrupt or empty TIFF)")
    return array


def find_pairs(data: str | Path) -> list[Pair]:
    """Pairs of a folder with images/ and labels/, or of one image file inside such a folder.

    Sorted by name, so every run sees the same order.
    """
    data = Path(data)
    if not data.exists():
        raise DataError(f"evaluation data not found: {data}")
    if data.is_file():
        if data.parent.name != "images":
            # A labels/ file would be found as its own label file and score itself.
            raise DataError(f"{data} is not in an images/ folder: give an image from DATA/images/ "
                            "(its labels in DATA/labels/), or the DATA folder")
        labels_dir = data.parent.parent / "labels"
        pair = Pair(data.stem, data, labels_dir / data.name)
        if not pair.label_path.is_file():
            raise DataError(f"no label file for {data}: expected {pair.label_path}")
        return [pair]
    images_dir, labels_dir = data / "images", data / "labels"
    for sub in (images_dir, labels_dir):
        if not sub.is_dir():
            raise DataError(f"{data} must contain images/ and labels/ folders; missing {sub}")
    image_files = sorted(p for p in images_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not image_files:
        raise DataError(f"no .tif images in {images_dir}")
    pairs = []
    for path in image_files:
        label = labels_dir / path.name
        if not label.is_file():
            raise DataError(f"image {path.name} has no label file {label}")
        pairs.append(Pair(path.stem, path, label))
    return pairs


def limit_pairs(pairs: list[Pair], limit: int | None) -> list[Pair]:
    """At most `limit` pairs, taken round-robin over subsets so every subset is represented."""
    if limit is None or limit >= len(pairs):
        return list(pairs)
    if limit < 1:
        raise DataError(f"limit must be at least 1, got {limit}")
    groups: dict[str, list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(pair.subset, []).append(pair)
    order = [p for row in zip_longest(*groups.values()) for p in row if p is not None]
    return sorted(order[:limit], key=lambda p: p.name)


def load_pair(pair: Pair) -> Loaded:
    """Read a pair and check that image and labels fit together."""
    image = read_tiff(pair.image_path)
    labels = read_tiff(pair.label_path)
    if labels.ndim not in (2, 3):
        raise DataError(f"labels of {pair.name} must be 2-D or 3-D, got shape {labels.shape}")
    if labels.ndim == 3 and labels.shape[-1] <= 4:
        # A volume is (Z, Y, X); a last axis this short is a colour label file, which would
        # otherwise be read as a stack of one-row-wide slices.
        raise DataError(f"labels of {pair.name} have shape {labels.shape}: an instance map is (H, W) "
                        "(or (Z, Y, X) for a volume), not colour")
    if labels.dtype.kind not in "ui":
        raise DataError(f"labels of {pair.name} must be an integer instance map, got {labels.dtype}")
    spatial = image.shape[: labels.ndim]
    if spatial != labels.shape or image.ndim not in (labels.ndim, labels.ndim + 1):
        raise DataError(f"image {pair.name} has shape {image.shape} but its labels have shape {labels.shape}")
    return Loaded(pair, image, labels)
