"""DLU: dynamic local upsampling from stride-8 decoder features to full-resolution logits.

A tiny head on detached decoder features gives coarse logits; only the box of
tokens with coarse logit above a threshold (grown by one token) is upsampled,
everything outside is certain background. Each stage normalises per pixel
(a channel LayerNorm: per-pixel statistics keep the box result equal to the
full-map result), upsamples bicubically x2, adds the edge feature of that
scale and applies a 3x3 conv. The box is computed with a margin of tokens so
the border effects of the convs and the bicubic kernel stay outside it.

With `reference=True` each stage also adds a 1x1 projection of the reference
map R (one-hot, average-pooled to the stage's scale): the previous mask and the
click disks at pixel resolution. The projections start at zero, so a model
trained without them keeps its function when they are added. The optional
full-resolution refine blocks (`dlu_refine_blocks`) start as identities too.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .reference_map import NUM_STATES

MARGIN_TOKENS = 6


class ChannelNorm(nn.Module):
    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = x.var(dim=1, keepdim=True, unbiased=False)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


class UpStage(nn.Module):
    def __init__(self, cin: int, cout: int, edge_channels: int, reference: bool = False):
        super().__init__()
        self.norm = ChannelNorm(cin)
        self.edge_proj = nn.Conv2d(edge_channels, cin, 1)
        self.ref_proj = nn.Conv2d(NUM_STATES, cin, 1) if reference else None
        if self.ref_proj is not None:
            nn.init.zeros_(self.ref_proj.weight)
            nn.init.zeros_(self.ref_proj.bias)
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor, edge: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        x = F.interpolate(self.norm(x), scale_factor=2.0, mode="bicubic", align_corners=False)
        x = x + self.edge_proj(edge)
        if self.ref_proj is not None:
            x = x + self.ref_proj(ref)
        return F.gelu(self.conv(x))


class RefineBlock(nn.Module):
    """x + conv(gelu(conv(x))) at full resolution; the second conv starts at zero (identity)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.gelu(self.conv1(x)))


def reference_pyramid(ref_map: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """R (B, H, W) integer -> one-hot state fractions at strides 1, 2, 4: (B, 5, H/s, W/s)."""
    r1 = F.one_hot(ref_map.long(), NUM_STATES).permute(0, 3, 1, 2).float()
    r2 = F.avg_pool2d(r1, 2)
    return r1, r2, F.avg_pool2d(r2, 2)


class DynamicLocalUpsampler(nn.Module):
    stride = 8

    def __init__(self, dim: int, edge_channels: tuple[int, int, int], channels: tuple[int, int, int],
                 threshold: float, background_logit: float, reference: bool = False, refine_blocks: int = 0):
        super().__init__()
        e1, e2, e4 = edge_channels
        u4, u2, u1 = channels
        self.reference = reference
        self.coarse_head = nn.Sequential(nn.Conv2d(dim, 32, 1), nn.ReLU(), nn.Conv2d(32, 1, 1))
        self.stages = nn.ModuleList([UpStage(dim, u4, e4, reference), UpStage(u4, u2, e2, reference),
                                     UpStage(u2, u1, e1, reference)])
        self.refine = nn.ModuleList(RefineBlock(u1) for _ in range(refine_blocks))
        self.head = nn.Conv2d(u1, 1, 1)
        self.threshold = threshold
        self.background_logit = background_logit

    def coarse(self, feats: torch.Tensor) -> torch.Tensor:
        # Detached: the coarse head learns from its auxiliary loss only.
        return self.coarse_head(feats.detach())

    def upsample(self, feats, edges, refs=None):
        """refs: `reference_pyramid` of R (strides 1, 2, 4) when the stages take R."""
        e1, e2, e4 = edges
        r1, r2, r4 = refs if refs is not None else (None, None, None)
        x = self.stages[0](feats, e4, r4)
        x = self.stages[1](x, e2, r2)
        x = self.stages[2](x, e1, r1)
        for block in self.refine:
            x = block(x)
        return self.head(x)

    def _pyramid(self, ref_map):
        if not self.reference:
            return None
        if ref_map is None:
            raise ValueError("this upsampler needs the reference map")
        return reference_pyramid(ref_map)

    def dense(self, feats, edges, ref_map=None):
        """Training path: upsample the whole map. Returns (logits, coarse logits)."""
        return self.upsample(feats, edges, self._pyramid(ref_map)), self.coarse(feats)

    def box(self, coarse: torch.Tensor) -> tuple[int, int, int, int] | None:
        """Token box (t0, t1, l0, l1) of coarse logits above the threshold, grown by one token."""
        on = coarse[0, 0] > self.threshold
        rows = on.any(dim=1).nonzero()
        if rows.numel() == 0:
            return None
        cols = on.any(dim=0).nonzero()
        h, w = on.shape
        return (max(0, int(rows.min()) - 1), min(h, int(rows.max()) + 2),
                max(0, int(cols.min()) - 1), min(w, int(cols.max()) + 2))

    def forward(self, feats, edges, ref_map=None):
        """Fast path for one window (batch 1). Returns (logits, coarse logits)."""
        s = self.stride
        coarse = self.coarse(feats)
        h, w = feats.shape[-2:]
        logits = feats.new_full((1, 1, h * s, w * s), self.background_logit)
        box = self.box(coarse)
        if box is None:
            return logits, coarse
        t0, t1, l0, l1 = box
        m = MARGIN_TOKENS
        c0, c1, d0, d1 = max(0, t0 - m), min(h, t1 + m), max(0, l0 - m), min(w, l1 + m)
        e1, e2, e4 = edges
        refs = self._pyramid(None if ref_map is None else ref_map[:, c0 * s : c1 * s, d0 * s : d1 * s])
        crop = self.upsample(
            feats[:, :, c0:c1, d0:d1],
            (e1[:, :, c0 * s : c1 * s, d0 * s : d1 * s],
             e2[:, :, c0 * s // 2 : c1 * s // 2, d0 * s // 2 : d1 * s // 2],
             e4[:, :, c0 * s // 4 : c1 * s // 4, d0 * s // 4 : d1 * s // 4]),
            refs,
        )
        y0, x0 = (t0 - c0) * s, (l0 - d0) * s
        logits[:, :, t0 * s : t1 * s, l0 * s : l1 * s] = crop[:, :, y0 : y0 + (t1 - t0) * s, x0 : x0 + (l1 - l0) * s]
        return logits, coarse
