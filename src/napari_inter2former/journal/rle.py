"""Run-length encoding of a bool mask for JSON: exact, compact for blob-like objects."""

from __future__ import annotations

import numpy as np


def encode_mask(mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> dict:
    """Crop to the foreground's bounding box and run-length encode it (C order,
    runs alternate background/foreground, starting with background)."""
    mask = np.asarray(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return {"offset": [int(offset[0]), int(offset[1])], "shape": [0, 0], "counts": []}
    cols = np.flatnonzero(mask.any(axis=0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    flat = crop.ravel()
    edges = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat[0]:
        counts = [0] + counts
    return {"offset": [int(offset[0] + rows[0]), int(offset[1] + cols[0])],
            "shape": [int(crop.shape[0]), int(crop.shape[1])], "counts": [int(c) for c in counts]}


def decode_mask(raw: dict) -> tuple[np.ndarray, tuple[int, int]]:
    """Inverse of `encode_mask`: (mask, offset)."""
    h, w = (int(v) for v in raw["shape"])
    flat = np.zeros(h * w, dtype=bool)
    pos, value = 0, False
    for count in raw["counts"]:
        if count < 0:
            raise ValueError(f"negative run length {count}")
        if value:
            flat[pos : pos + count] = True
        pos += count
        value = not value
    if pos != h * w:
        raise ValueError(f"run lengths add up to {pos}, expected {h * w}")
    oy, ox = (int(v) for v in raw["offset"])
    return flat.reshape(h, w), (oy, ox)
