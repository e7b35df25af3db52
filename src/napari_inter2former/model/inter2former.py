"""The Inter2Former network: a cached image stage and a light per-click decoder.

    features = model.encode(image)                  # once per image / tile
    out = model.decode(features, reference_map)     # every click

`decode` has two paths computing the same function: a dense training path
(every token through both attentions, full-map upsampling, auxiliary outputs)
and, in eval mode, a fast path (DPE in its ROI, boundary tokens only through
exact attention, DLU in its box).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .config import Inter2FormerConfig
from .edge_branch import EdgeBranch
from .encoder import ImageEncoder
from .hybrid_attention import DHABlock
from .local_upsampler import DynamicLocalUpsampler
from .prompt_embedding import DynamicPromptEmbedding
from .rope import rope_tables
from .routing import boundary_tokens


@dataclass
class ImageFeatures:
    """Per-image features: tokens at the token stride, edge features at strides 1, 2, 4."""

    tokens: torch.Tensor  # (B, dim, H/8, W/8)
    edges: tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class DecoderOutput:
    logits: torch.Tensor  # (B, 1, H, W) full-resolution logits
    coarse_logits: torch.Tensor  # (B, 1, H/8, W/8)
    commit_loss: torch.Tensor  # scalar BSQ commitment loss (0 on the fast path)


class Inter2Former(nn.Module):
    def __init__(self, config: Inter2FormerConfig | None = None):
        super().__init__()
        self.config = config = config or Inter2FormerConfig()
        if config.token_stride != ImageEncoder.stride:
            raise ValueError(f"this encoder produces stride-{ImageEncoder.stride} tokens")
        self.encoder = ImageEncoder(config.dim, config.neck_blocks, config.trunk)
        self.edge_branch = EdgeBranch(config.edge_channels)
        self.prompt_embedding = DynamicPromptEmbedding(config.dim, config.token_stride, config.prompt_embed_dim)
        self.blocks = nn.ModuleList(
            DHABlock(config.dim, config.attn_dim, config.bsq_bits, config.num_experts, config.expert_hidden)
            for _ in range(config.num_blocks)
        )
        self.out_norm = nn.LayerNorm(config.dim)
        self.upsampler = DynamicLocalUpsampler(
            config.dim, config.edge_channels, config.upsample_channels, config.dlu_threshold, config.background_logit,
            config.dlu_reference, config.dlu_refine_blocks,
        )

    @property
    def alignment(self) -> int:
        """Image sides and tile origins must be multiples of this."""
        return ImageEncoder.alignment

    def encode(self, image: torch.Tensor) -> ImageFeatures:
        """image (B, 3, H, W) float in [0, 1], H and W multiples of 16."""
        if image.ndim != 4 or image.shape[1] != 3:
            raise ValueError(f"expected a (B, 3, H, W) image tensor, got shape {tuple(image.shape)}")
        if image.shape[-2] % self.alignment or image.shape[-1] % self.alignment:
            raise ValueError(f"image sides must be multiples of {self.alignment}, got {tuple(image.shape[-2:])}")
        return ImageFeatures(self.encoder(image), self.edge_branch(image))

    def decode(self, features: ImageFeatures, ref_map: torch.Tensor, fast: bool | None = None,
               all_full_attention: bool = False) -> DecoderOutput:
        """ref_map (B, H, W) integer states matching the features' window.

        fast=None picks the fast path in eval mode. `all_full_attention` (dense path
        only) routes every token to exact attention: the paper's upper bound, for ablations.
        """
        fast = (not self.training) if fast is None else fast
        tokens = features.tokens
        b, d, h, w = tokens.shape
        s = self.config.token_stride
        if ref_map.shape[-2:] != (h * s, w * s):
            raise ValueError(f"reference map {tuple(ref_map.shape[-2:])} does not match features {(h * s, w * s)}")
        cos, sin = rope_tables(h, w, self.config.attn_dim, self.config.rope_base, tokens.device)
        boundary = boundary_tokens(ref_map, s).reshape(b, h * w)
        if fast:
            if b != 1:
                raise ValueError("the fast path decodes one window at a time")
            x = (tokens + self.prompt_embedding(ref_map[0])).flatten(2)[0].t()
            for block in self.blocks:
                x = block.forward_fast(x, boundary[0], cos, sin)
            commit = x.new_zeros(())
            x = self.out_norm(x).t().reshape(1, d, h, w)
            logits, coarse = self.upsampler(x, features.edges, ref_map)
        else:
            x = (tokens + self.prompt_embedding.dense(ref_map)).flatten(2).transpose(1, 2)
            commit = x.new_zeros(())
            for block in self.blocks:
                x, c = block.forward_dense(x, boundary, cos, sin, all_full_attention)
                commit = commit + c
            x = self.out_norm(x).transpose(1, 2).reshape(b, d, h, w)
            logits, coarse = self.upsampler.dense(x, features.edges, ref_map)
        return DecoderOutput(logits, coarse, commit)

    def update_balance_biases(self) -> None:
        for block in self.blocks:
            block.moe.update_balance_bias()
