"""Choosing which labelled objects of an image are evaluated.

Objects with at least `min_area` pixels are eligible (touching the border is
fine). At most `max_per_image` are drawn without replacement by a generator
seeded from (seed, image name), so the choice for one image does not depend on
which other images are in the run, and is the same on every machine.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class TargetChoice:
    ids: tuple[int, ...]  # chosen label ids, ascending
    areas: tuple[int, ...]  # their pixel counts
    labelled: int  # objects in the image
    eligible: int  # of those, with area >= min_area


def object_areas(labels: np.ndarray) -> dict[int, int]:
    """Pixel count of every non-zero label id."""
    ids, counts = np.unique(labels, return_counts=True)
    return {int(i): int(c) for i, c in zip(ids, counts) if i != 0}


def pick_targets(labels: np.ndarray, name: str, max_per_image: int | None, min_area: int = 0,
                 seed: int = 0, areas: dict[int, int] | None = None) -> TargetChoice:
    """Deterministic choice of objects to evaluate in `labels` (any dimensionality).

    `areas` may be given to measure size differently (e.g. the largest slice of a 3-D object).
    """
    areas = object_areas(labels) if areas is None else areas
    eligible = sorted(i for i, a in areas.items() if a >= min_area)
    if max_per_image is not None and max_per_image < len(eligible):
        rng = np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(name.encode("utf-8"))])
        chosen = sorted(int(i) for i in rng.choice(eligible, size=max_per_image, replace=False))
    else:
        chosen = eligible
    return TargetChoice(tuple(chosen), tuple(areas[i] for i in chosen), len(areas), len(eligible))
