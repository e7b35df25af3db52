"""The simulated user: the standard RITM next-click rule.

FN = GT & ~pred, FP = pred & ~GT. Each error region gets a Euclidean distance
transform in which the image border counts as boundary (zero padding before the
EDT). The click goes to the larger of the two maxima (positive only when the FN
maximum is strictly larger), at its first pixel in row-major order. With an empty
prediction the first click is therefore the object's deepest interior point.

As in RITM's clicker (`isegm/inference/clicker.py`, its `not_clicked_map`), a pixel already
clicked is never clicked again: its distance is zeroed after the transform. A method that
ignores a click is then shown the next error pixel instead of the same one twenty times.
When only clicked pixels are left in error, there is no next click.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.ndimage import distance_transform_edt


class SimClick(NamedTuple):
    y: int
    x: int
    positive: bool


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def border_distance(region: np.ndarray) -> np.ndarray:
    """EDT of `region` with the image border counting as boundary (full-size result)."""
    region = np.asarray(region, dtype=bool)
    return distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def deepest_point(region: np.ndarray, exclude=()) -> tuple[float, int, int]:
    """(max distance, y, x) of `region`'s deepest pixel, first in row-major order on ties;
    pixels in `exclude` ((y, x) pairs) keep their neighbours' distances but are never chosen.

    Works on the region's bounding box grown by one pixel: every pixel there is at
    least as close to the ring of zeros around the box as to anything outside it,
    so the distances equal those of the full-image transform, at a fraction of the cost.
    """
    box = _bbox(region)
    if box is None:
        return 0.0, -1, -1
    h, w = region.shape
    y0, y1, x0, x1 = max(0, box[0] - 1), min(h, box[1] + 1), max(0, box[2] - 1), min(w, box[3] + 1)
    dist = border_distance(region[y0:y1, x0:x1])
    for y, x in exclude:
        if y0 <= y < y1 and x0 <= x < x1:
            dist[y - y0, x - x0] = 0.0
    flat = int(np.argmax(dist))  # argmax returns the first maximum: row-major tie-break
    y, x = divmod(flat, dist.shape[1])
    return float(dist[y, x]), y0 + y, x0 + x


def next_click(gt: np.ndarray, pred: np.ndarray, clicked=()) -> SimClick | None:
    """The next simulated click for target `gt` given prediction `pred`, never on a pixel in
    `clicked` ((y, x) pairs already clicked); None when no unclicked pixel is in error."""
    gt = np.asarray(gt, dtype=bool)
    pred = np.asarray(pred, dtype=bool)
    if gt.shape != pred.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    clicked = [(int(y), int(x)) for y, x, *_ in clicked]
    fn_dist, fn_y, fn_x = deepest_point(gt & ~pred, clicked)
    fp_dist, fp_y, fp_x = deepest_point(pred & ~gt, clicked)
    if fn_dist == 0 and fp_dist == 0:
        return None
    if fn_dist > fp_dist:
        return SimClick(fn_y, fn_x, True)
    return SimClick(fp_y, fp_x, False)


def first_click(gt: np.ndarray) -> SimClick:
    """The first click: the deepest interior point of the object (positive)."""
    click = next_click(gt, np.zeros_like(gt, dtype=bool))
    if click is None:
        raise ValueError("the target object is empty")
    return click
