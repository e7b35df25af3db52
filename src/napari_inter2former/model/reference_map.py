"""The five-state reference map R and its update rules (Inter2Former, sec. 3).

States: 0 certain background (negative click disk), 1 probably background,
2 unknown, 3 probably foreground, 4 certain foreground (positive click disk).
Works on torch tensors of any leading shape (..., H, W) so that training
(batched) and the interactive session (one map) share one implementation.
"""

from __future__ import annotations

import torch

CERTAIN_BG = 0
LIKELY_BG = 1
UNKNOWN = 2
LIKELY_FG = 3
CERTAIN_FG = 4
NUM_STATES = 5


def initial_reference_map(height: int, width: int, batch: tuple[int, ...] = ()) -> torch.Tensor:
    """Everything is unknown before the first prediction."""
    return torch.full((*batch, height, width), UNKNOWN, dtype=torch.uint8)


def paint_click(ref: torch.Tensor, y: int, x: int, positive: bool, radius: int) -> None:
    """Paint a certain-foreground/background disk around (y, x), in place.

    Pixels of the disk that fall outside the map are ignored, so a click near
    the window edge paints a partial disk.
    """
    height, width = ref.shape[-2:]
    y0, y1 = max(0, y - radius), min(height, y + radius + 1)
    x0, x1 = max(0, x - radius), min(width, x + radius + 1)
    if y0 >= y1 or x0 >= x1:
        return
    yy = torch.arange(y0, y1).view(-1, 1) - y
    xx = torch.arange(x0, x1).view(1, -1) - x
    disk = (yy * yy + xx * xx) <= radius * radius
    region = ref[..., y0:y1, x0:x1]
    region[..., disk] = CERTAIN_FG if positive else CERTAIN_BG


def seed_reference_map(mask) -> torch.Tensor:
    """R for an object known from an earlier mask: probably foreground inside, probably background outside."""
    mask = torch.as_tensor(mask, dtype=torch.bool)
    ref = torch.full(mask.shape, LIKELY_BG, dtype=torch.uint8)
    ref[mask] = LIKELY_FG
    return ref


def update_reference_map(ref: torch.Tensor, prediction: torch.Tensor) -> torch.Tensor:
    """Fold a binary prediction into R; returns a new map.

    Where the prediction is 1: unknown -> probably fg, probably bg -> unknown.
    Where it is 0: unknown -> probably bg, probably fg -> unknown.
    Certain states (click disks) are never changed.
    """
    fg = prediction.bool()
    new = ref.clone()
    new[(ref == UNKNOWN) & fg] = LIKELY_FG
    new[(ref == LIKELY_BG) & fg] = UNKNOWN
    new[(ref == UNKNOWN) & ~fg] = LIKELY_BG
    new[(ref == LIKELY_FG) & ~fg] = UNKNOWN
    return new


def paint_clicks(ref: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor, positive: torch.Tensor, radius: int) -> torch.Tensor:
    """Batched `paint_click`: one click per map of ref (B, H, W), on ref's device; returns a new map.

    ys, xs (B,) integer (a negative y means "no click for this map"), positive (B,) bool.
    """
    height, width = ref.shape[-2:]
    device = ref.device
    ys, xs, positive = ys.to(device), xs.to(device), positive.to(device)
    yy = torch.arange(height, device=device).view(1, -1, 1) - ys.view(-1, 1, 1)
    xx = torch.arange(width, device=device).view(1, 1, -1) - xs.view(-1, 1, 1)
    disk = ((yy * yy + xx * xx) <= radius * radius) & (ys >= 0).view(-1, 1, 1)
    state = torch.where(positive, CERTAIN_FG, CERTAIN_BG).to(ref.dtype).view(-1, 1, 1)
    return torch.where(disk, state, ref)
