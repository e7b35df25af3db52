"""Keep the coarser levels of a multiscale labels layer in step with its full resolution.

Commits write level 0 only. A pyramid whose levels are separate arrays (a user's own, or one
loaded from zarr) would otherwise show nothing new when zoomed out, and the user would think
the commit failed. Each changed box is copied down by nearest neighbour (level pixel i shows
level-0 pixel floor(i * f)), which is how a strided view (`level0[::f, ::f]`) subsamples; the
widget's own lazy pyramid is made of such views and needs no copy.
"""

from __future__ import annotations

import math

import numpy as np

from ..journal.planes import PlaneSpec, PlaneView


def _views_of(level, base) -> bool:
    return isinstance(level, np.ndarray) and isinstance(base, np.ndarray) and np.may_share_memory(level, base)


def update_lower_levels(levels, spec: PlaneSpec, box: tuple[int, int, int, int]) -> bool:
    """Copy the box (y0, y1, x0, x1) of plane `spec` from level 0 into every coarser level.

    Returns False, changing nothing, when a level is not level 0 reduced along the plane's rows
    and columns only (e.g. a pyramid that also halves Z): the plane then has no single
    counterpart in that level.
    """
    base = levels[0]
    mapped = []
    for level in levels[1:]:
        if _views_of(level, base):
            continue
        if len(level.shape) != len(base.shape) or any(
            level.shape[a] != base.shape[a] for a in range(len(base.shape)) if a not in (spec.rows_axis, spec.cols_axis)
        ):
            return False
        mapped.append(level)
    y0, y1, x0, x1 = box
    source = np.asarray(PlaneView(base, spec).read(y0, y1, x0, x1))
    for level in mapped:
        fy = base.shape[spec.rows_axis] / level.shape[spec.rows_axis]
        fx = base.shape[spec.cols_axis] / level.shape[spec.cols_axis]
        ly0, ly1 = math.ceil(y0 / fy), min(level.shape[spec.rows_axis], math.ceil(y1 / fy))
        lx0, lx1 = math.ceil(x0 / fx), min(level.shape[spec.cols_axis], math.ceil(x1 / fx))
        if ly0 >= ly1 or lx0 >= lx1:
            continue  # the box holds no pixel this level samples
        rows = np.floor(np.arange(ly0, ly1) * fy).astype(int) - y0
        cols = np.floor(np.arange(lx0, lx1) * fx).astype(int) - x0
        PlaneView(level, spec).write(ly0, ly1, lx0, lx1, source[np.ix_(rows, cols)])
    return True
