"""Simulated clicks for training.

Corrective clicks follow the evaluation's simulated user (the RITM rule in
`evaluation.clicker`), so the model trains on the clicks it is judged with;
random interior points add variety to first clicks.
"""

from __future__ import annotations

import numpy as np

from ..evaluation.clicker import border_distance, deepest_point, next_click

__all__ = ["deepest_point", "next_click", "random_interior_point"]


def random_interior_point(mask: np.ndarray, rng: np.random.Generator, min_depth: float = 3.0) -> tuple[int, int]:
    """A random pixel of `mask` at least `min_depth` from its boundary (or among the deepest)."""
    dist = border_distance(mask)
    ys, xs = np.nonzero(dist >= min(min_depth, dist.max()))
    i = int(rng.integers(len(ys)))
    return int(ys[i]), int(xs[i])
