"""Find one label's extent around a picked pixel without scanning the whole plane."""

from __future__ import annotations

import numpy as np

START_HALF = 128
MAX_SIDE = 4096


def label_region(plane, label_id: int, y: int, x: int):
    """(mask, offset, box) of `label_id` in a box around (y, x), grown until the label
    no longer touches an inner side of the box (or the box reaches MAX_SIDE)."""
    h, w = plane.shape[:2]
    half = START_HALF
    while True:
        y0, y1 = max(0, y - half), min(h, y + half + 1)
        x0, x1 = max(0, x - half), min(w, x + half + 1)
        mask = np.asarray(plane.read(y0, y1, x0, x1)) == label_id
        touches = ((y0 > 0 and mask[0].any()) or (y1 < h and mask[-1].any())
                   or (x0 > 0 and mask[:, 0].any()) or (x1 < w and mask[:, -1].any()))
        if not touches or 2 * half + 1 >= MAX_SIDE:
            return mask, (y0, x0), (y0, y1, x0, x1)
        half *= 2
