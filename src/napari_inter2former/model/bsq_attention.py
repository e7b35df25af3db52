"""Binary spherical quantisation (BSQ) of keys and the attention it makes linear.

Every key gets an S-bit code (signs of an L2-normalised projection); its
quantised key is K(b) = concat(b, 1-b) @ C. Tokens sharing a code share a key,
so softmax attention over all N tokens collapses onto at most 2**S buckets:

    out(q) = sum_c exp(s q.K_c) V_c / sum_c exp(s q.K_c) n_c

with V_c the sum of values and n_c the count of code c. That is exact, and
costs O(N * 2**S) instead of O(N**2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class BinaryKeyQuantizer(nn.Module):
    def __init__(self, head_dim: int, bits: int):
        super().__init__()
        self.bits = bits
        self.code_proj = nn.Linear(head_dim, bits, bias=False)
        self.basis = nn.Parameter(torch.randn(2 * bits, head_dim) / (2 * bits) ** 0.5)
        all_codes = torch.arange(2**bits)
        table = ((all_codes[:, None] >> torch.arange(bits)[None]) & 1).float()  # (2**S, S)
        self.register_buffer("code_bits", table, persistent=False)
        self.register_buffer("powers", 2 ** torch.arange(bits), persistent=False)

    def project(self, k: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.code_proj(k), dim=-1)

    def quantized_keys(self, k: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-token quantised keys with a straight-through sign, and the commitment loss."""
        u = self.project(k)
        sign = torch.where(u >= 0, 1.0, -1.0)
        sign_st = u + (sign - u).detach()
        bits = (sign_st + 1) / 2
        keys = torch.cat([bits, 1 - bits], dim=-1) @ self.basis
        commit = 0.25 * F.mse_loss(u, sign.detach() / self.bits**0.5)
        return keys, commit

    def codes(self, k: torch.Tensor) -> torch.Tensor:
        """Integer code of each key, (..., N) long."""
        return ((self.project(k) >= 0).long() * self.powers).sum(-1)

    def codebook(self) -> torch.Tensor:
        return torch.cat([self.code_bits, 1 - self.code_bits], dim=-1) @ self.basis  # (2**S, head_dim)

    def bucketed_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        """Exact attention of q (M, d) over quantised keys of k (N, d), values v (N, dv)."""
        code = self.codes(k)
        n_codes = 2**self.bits
        counts = torch.bincount(code, minlength=n_codes).to(v.dtype)
        sums = torch.zeros(n_codes, v.shape[-1], dtype=v.dtype, device=v.device).index_add_(0, code, v)
        used = counts > 0
        keys, counts, sums = self.codebook()[used], counts[used], sums[used]
        logits = scale * (q @ keys.t()) + counts.log()
        weights = torch.softmax(logits, dim=-1)
        return weights @ (sums / counts[:, None])

    def explicit_attention(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
        """The same function as softmax over N per-token quantised keys (training path)."""
        keys, commit = self.quantized_keys(k)
        return F.scaled_dot_product_attention(q, keys, v, scale=scale), commit
