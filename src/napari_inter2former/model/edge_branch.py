"""Edge branch: fixed gradient maps of the image, then small convs at strides 1, 2, 4.

Its features guide the upsampler to sharp boundaries. Computed once per image
(or tile) and cached together with the encoder tokens.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class EdgeBranch(nn.Module):
    def __init__(self, channels: tuple[int, int, int]):
        super().__init__()
        c1, c2, c4 = channels
        sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]) / 8.0
        self.register_buffer("sobel", torch.stack([sobel, sobel.t()]).unsqueeze(1), persistent=False)
        self.stage1 = nn.Sequential(nn.Conv2d(4, c1, 3, padding=1), nn.ReLU(), nn.Conv2d(c1, c1, 3, padding=1), nn.ReLU())
        self.stage2 = nn.Sequential(nn.Conv2d(c1, c2, 3, stride=2, padding=1), nn.ReLU())
        self.stage4 = nn.Sequential(nn.Conv2d(c2, c4, 3, stride=2, padding=1), nn.ReLU())

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        grey = image.mean(dim=1, keepdim=True)
        grad = F.conv2d(grey, self.sobel, padding=1)
        magnitude = torch.sqrt((grad * grad).sum(dim=1, keepdim=True) + 1e-8)
        e1 = self.stage1(torch.cat([grey, grad, magnitude], dim=1))
        e2 = self.stage2(e1)
        e4 = self.stage4(e2)
        return e1, e2, e4
