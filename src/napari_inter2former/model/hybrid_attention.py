"""DHA: dynamic hybrid attention. Boundary tokens get exact softmax attention with
2-D RoPE; all other tokens get BSQ attention (linear in N) over the same keys and values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .bsq_attention import BinaryKeyQuantizer
from .hybrid_moe import HybridMoE
from .rope import apply_rope


class DynamicHybridAttention(nn.Module):
    def __init__(self, dim: int, head_dim: int, bits: int):
        super().__init__()
        self.head_dim = head_dim
        self.scale = head_dim**-0.5
        self.qkv = nn.Linear(dim, 3 * head_dim)
        self.proj = nn.Linear(head_dim, dim)
        self.quantizer = BinaryKeyQuantizer(head_dim, bits)

    def full_attention(self, q, k, v, q_rope, k_rope):
        """Exact softmax attention with RoPE. q (B, M, d), k/v (B, N, d); *_rope = (cos, sin) rows."""
        qr = apply_rope(q, *q_rope).unsqueeze(1)
        kr = apply_rope(k, *k_rope).unsqueeze(1)
        return F.scaled_dot_product_attention(qr, kr, v.unsqueeze(1), scale=self.scale).squeeze(1)

    def forward_dense(self, x, boundary, cos, sin, all_full: bool = False):
        """Training path: both attentions for every token, then pick per token. x (B, N, dim)."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        full = self.full_attention(q, k, v, (cos, sin), (cos, sin))
        if all_full:
            return self.proj(full), x.new_zeros(())
        bsq, commit = self.quantizer.explicit_attention(q.unsqueeze(1), k.unsqueeze(1), v.unsqueeze(1), self.scale)
        out = torch.where(boundary.unsqueeze(-1), full, bsq.squeeze(1))
        return self.proj(out), commit

    def forward_fast(self, x, boundary, cos, sin):
        """Inference path for one window: x (N, dim), boundary (N,) bool."""
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out = torch.empty_like(q)
        b_idx = boundary.nonzero().squeeze(1)
        o_idx = (~boundary).nonzero().squeeze(1)
        if b_idx.numel():
            q_rope = (cos[b_idx], sin[b_idx])
            out[b_idx] = self.full_attention(q[b_idx][None], k[None], v[None], q_rope, (cos, sin))[0]
        if o_idx.numel():
            out[o_idx] = self.quantizer.bucketed_attention(q[o_idx], k, v, self.scale)
        return self.proj(out)


class DHABlock(nn.Module):
    """Pre-norm transformer block: DHA, then HMoE as the feed-forward."""

    def __init__(self, dim: int, head_dim: int, bits: int, num_experts: int, hidden: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = DynamicHybridAttention(dim, head_dim, bits)
        self.norm2 = nn.LayerNorm(dim)
        self.moe = HybridMoE(dim, hidden, num_experts)

    def forward_dense(self, x, boundary, cos, sin, all_full: bool = False):
        a, commit = self.attn.forward_dense(self.norm1(x), boundary, cos, sin, all_full)
        x = x + a
        flat = x.reshape(-1, x.shape[-1])
        x = x + self.moe(self.norm2(flat), boundary.reshape(-1)).view_as(x)
        return x, commit

    def forward_fast(self, x, boundary, cos, sin):
        x = x + self.attn.forward_fast(self.norm1(x), boundary, cos, sin)
        return x + self.moe(self.norm2(x), boundary)
