"""The prompts a training sample starts from, before any corrective round.

Either clicks only (the deepest point, or a random interior point plus a few
random negatives), or a perturbed copy of the object's mask as a neighbouring
slice would show it (the widget's carry), with or without those clicks. Needs
only the target, so it runs in the data workers, not the training loop.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage

from ..model.reference_map import initial_reference_map, paint_click, seed_reference_map
from .click_simulation import deepest_point, random_interior_point


def first_clicks(target: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, bool]]:
    if rng.random() < 0.7:
        _, y, x = deepest_point(target)
        return [(y, x, True)]
    clicks = [(*random_interior_point(target, rng), True)]
    background = ~target
    for _ in range(int(rng.integers(0, 3))):
        if background.any():
            clicks.append((*random_interior_point(background, rng, min_depth=4.0), False))
    return clicks


def perturbed_mask(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The object as a neighbouring slice might show it: shifted, grown or shrunk."""
    ys, xs = np.nonzero(target)
    extent = max(1, int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1)
    limit = max(1, int(0.12 * extent))
    mask = np.roll(target, (int(rng.integers(-limit, limit + 1)), int(rng.integers(-limit, limit + 1))), (0, 1))
    steps = int(rng.integers(-max(1, extent // 10), max(1, extent // 10) + 1))
    if steps > 0:
        mask = ndimage.binary_dilation(mask, iterations=steps)
    elif steps < 0:
        eroded = ndimage.binary_erosion(mask, iterations=-steps)
        mask = eroded if eroded.any() else mask
    return mask


def initial_reference(target: np.ndarray, rng: np.random.Generator, radius: int, mask_seed_prob: float) -> torch.Tensor:
    """Reference map (H, W) uint8 for one sample's starting prompts; target (H, W) bool."""
    clicks = first_clicks(target, rng)
    if rng.random() < mask_seed_prob:
        ref = seed_reference_map(perturbed_mask(target, rng))
        if rng.random() < 0.5:
            clicks = []  # mask only: the carry case
    else:
        ref = initial_reference_map(*target.shape)
    for y, x, positive in clicks:
        paint_click(ref, y, x, positive, radius)
    return ref
