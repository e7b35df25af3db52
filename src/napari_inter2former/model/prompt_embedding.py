"""DPE: dynamic prompt embedding of the reference map, computed only inside its ROI.

R is embedded per pixel (Embedding(5, c)) and reduced to the token grid by
log2(stride) stride-2 3x3 convs. Outside the box of pixels with R != "probably
background" (snapped to tokens, grown by one token) every token would see a
uniform map, so it gets one constant vector instead. `dense` is the reference
(whole-window) computation; `forward` gives the same numbers inside the box.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .reference_map import LIKELY_BG, NUM_STATES


class DynamicPromptEmbedding(nn.Module):
    def __init__(self, dim: int, stride: int, embed_dim: int):
        super().__init__()
        steps = int(math.log2(stride))
        if 2**steps != stride:
            raise ValueError(f"token stride must be a power of two, got {stride}")
        self.stride = stride
        self.embed = nn.Embedding(NUM_STATES, embed_dim)
        widths = [embed_dim] + [min(dim, embed_dim * 2 ** (i + 1)) for i in range(steps - 1)] + [dim]
        layers: list[nn.Module] = []
        for i in range(steps):
            layers.append(nn.Conv2d(widths[i], widths[i + 1], 3, stride=2, padding=1))
            if i < steps - 1:
                layers.append(nn.ReLU())
        self.convs = nn.Sequential(*layers)

    def _embed_padded(self, ref: torch.Tensor) -> torch.Tensor:
        """(B, h, w) map -> (B, dim, h/s, w/s), with a one-token margin of "probably
        background" around it so the zero padding of the convs never reaches a kept token."""
        s = self.stride
        padded = F.pad(ref.long(), (s, s, s, s), value=LIKELY_BG)
        x = self.embed(padded).permute(0, 3, 1, 2)
        return self.convs(x)[:, :, 1:-1, 1:-1]

    def background_vector(self) -> torch.Tensor:
        """The embedding of a uniform "probably background" neighbourhood: (dim,)."""
        s = self.stride
        patch = torch.full((1, s, s), LIKELY_BG, dtype=torch.long, device=self.embed.weight.device)
        return self._embed_padded(patch)[0, :, 0, 0]

    def dense(self, ref: torch.Tensor) -> torch.Tensor:
        """Reference computation on the whole map (training path)."""
        return self._embed_padded(ref)

    @staticmethod
    def roi_box(ref: torch.Tensor, stride: int) -> tuple[int, int, int, int] | None:
        """Token box (t0, t1, l0, l1) of pixels != probably background, grown by one token."""
        rows = (ref != LIKELY_BG).any(dim=-1).nonzero()
        if rows.numel() == 0:
            return None
        cols = (ref != LIKELY_BG).any(dim=-2).nonzero()
        h, w = ref.shape[-2] // stride, ref.shape[-1] // stride
        t0 = max(0, int(rows.min()) // stride - 1)
        t1 = min(h, int(rows.max()) // stride + 2)
        l0 = max(0, int(cols.min()) // stride - 1)
        l1 = min(w, int(cols.max()) // stride + 2)
        return t0, t1, l0, l1

    def forward(self, ref: torch.Tensor) -> torch.Tensor:
        """Fast path for one map: ref (H, W) -> (1, dim, H/s, W/s)."""
        s = self.stride
        h, w = ref.shape[-2] // s, ref.shape[-1] // s
        out = self.background_vector().view(1, -1, 1, 1).expand(1, -1, h, w).clone()
        box = self.roi_box(ref, s)
        if box is None:
            return out
        t0, t1, l0, l1 = box
        out[:, :, t0:t1, l0:l1] = self._embed_padded(ref[None, t0 * s : t1 * s, l0 * s : l1 * s])
        return out
