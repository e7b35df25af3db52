"""Normalised focal loss (RITM / Inter2Former): focal weights rescaled to sum to the pixel count."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def normalized_focal_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 0.5, gamma: float = 2.0,
                          eps: float = 1e-8, weight: torch.Tensor | None = None) -> torch.Tensor:
    """logits, target: (B, 1, H, W). Mean over the batch of per-sample losses. `weight`
    (broadcastable to the logits) scales chosen pixels' terms after the normalisation."""
    target = target.float()
    p = torch.sigmoid(logits)
    pt = torch.where(target > 0.5, p, 1 - p)
    alpha_t = torch.where(target > 0.5, alpha, 1 - alpha)
    beta = (1 - pt) ** gamma
    dims = (1, 2, 3)
    count = float(logits[0].numel())
    # The normaliser is a constant for the gradient, as in RITM.
    mult = (count / (beta.sum(dim=dims, keepdim=True) + eps)).detach()
    log_pt = -F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    loss = -alpha_t * beta * mult * log_pt
    if weight is not None:
        loss = loss * weight
    return loss.sum(dim=dims).div(count).mean()


def soft_iou_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft IoU of sigmoid(logits) with the target, per sample, mean over the batch.

    The evaluation counts clicks to IoU 0.90, where each outline pixel of a small object
    matters; the focal loss weighs pixels, not the object's overlap, so this term can be
    added to aim at the metric itself (TrainConfig.iou_weight)."""
    p = torch.sigmoid(logits.float())
    t = target.float()
    dims = (1, 2, 3)
    inter = (p * t).sum(dims)
    union = (p + t - p * t).sum(dims)
    return (1 - (inter + eps) / (union + eps)).mean()


def neighbour_weight_map(others: torch.Tensor, weight: float, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Per-pixel loss weights: `weight` on other labelled objects' pixels, 1 elsewhere.

    On val, a quarter of the DSB nuclei touch a neighbour and take half the clicks; their
    first mask spills onto it (model card). The focal loss counts those pixels like any
    background pixel; this makes the spill cost more. `size`: pooled to a coarser grid
    (the share of other-object pixels in each cell)."""
    share = others.float()
    if size is not None:
        share = F.adaptive_avg_pool2d(share, size)
    return 1.0 + (weight - 1.0) * share
