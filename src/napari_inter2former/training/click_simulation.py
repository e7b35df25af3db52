"""Simulated clicks for training (the RITM rule, as in the evaluation protocol).

The click goes into the larger error region (by distance-transform maximum,
the image border counting as boundary) at its farthest-from-boundary pixel.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def _inner_distance(region: np.ndarray) -> np.ndarray:
    return ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]


def deepest_point(mask: np.ndarray) -> tuple[int, int]:
    dist = _inner_distance(mask)
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x)


def random_interior_point(mask: np.ndarray, rng: np.random.Generator, min_depth: float = 3.0) -> tuple[int, int]:
    """A random object pixel at least `min_depth` from its boundary (or the deepest one)."""
    dist = _inner_distance(mask)
    ys, xs = np.nonzero(dist >= min(min_depth, dist.max()))
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])


def next_click(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, bool] | None:
    """(y, x, positive) of the next corrective click, or None when the prediction is perfect."""
    fn = gt & ~pred
    fp = pred & ~gt
    d_fn, d_fp = _inner_distance(fn), _inner_distance(fp)
    m_fn, m_fp = d_fn.max(initial=0.0), d_fp.max(initial=0.0)
    if m_fn == 0 and m_fp == 0:
        return None
    positive = m_fn > m_fp
    dist = d_fn if positive else d_fp
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(y), int(x), bool(positive)
