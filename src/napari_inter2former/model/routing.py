"""Which tokens are "boundary" tokens and get exact attention and a routed expert."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .reference_map import UNKNOWN


def boundary_pixels(ref: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Pixels whose 7x7 neighbourhood in R is not uniform, or that are unknown.

    max != min is exact for an integer map. ref: (B, H, W) integer tensor.
    """
    r = ref.float().unsqueeze(1)
    pad = window // 2
    hi = F.max_pool2d(r, window, stride=1, padding=pad)
    lo = -F.max_pool2d(-r, window, stride=1, padding=pad)
    return ((hi != lo) | (r == UNKNOWN)).squeeze(1)


def boundary_tokens(ref: torch.Tensor, stride: int) -> torch.Tensor:
    """(B, H, W) reference map -> (B, H/stride, W/stride) bool: any boundary pixel."""
    pix = boundary_pixels(ref).float().unsqueeze(1)
    return F.max_pool2d(pix, stride, stride).squeeze(1) > 0
