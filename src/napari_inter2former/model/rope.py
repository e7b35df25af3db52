"""2-D rotary position encoding: half the channels rotate with the row, half with the column."""

from __future__ import annotations

import torch


def rope_tables(height: int, width: int, head_dim: int, base: float, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """cos/sin tables of shape (H*W, head_dim) for a row-major token grid."""
    if head_dim % 4:
        raise ValueError("head_dim must be a multiple of 4 for 2-D RoPE")
    quarter = head_dim // 4
    freqs = base ** (-torch.arange(quarter, dtype=torch.float32, device=device) / quarter)
    ys = torch.arange(height, dtype=torch.float32, device=device)
    xs = torch.arange(width, dtype=torch.float32, device=device)
    ang_y = (ys[:, None] * freqs[None]).repeat_interleave(2, dim=-1)  # (H, head_dim/2)
    ang_x = (xs[:, None] * freqs[None]).repeat_interleave(2, dim=-1)  # (W, head_dim/2)
    ang = torch.cat(
        [ang_y[:, None, :].expand(height, width, -1), ang_x[None, :, :].expand(height, width, -1)], dim=-1
    ).reshape(height * width, head_dim)
    return ang.cos(), ang.sin()


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive channel pairs of x (..., N, head_dim)."""
    pairs = x.unflatten(-1, (-1, 2))
    rotated = torch.stack([-pairs[..., 1], pairs[..., 0]], dim=-1).flatten(-2)
    return x * cos + rotated * sin
