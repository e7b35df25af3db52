"""HMoE: a shared SwiGLU expert for every token, plus a routed top-1 expert for boundary tokens.

Routed tokens are sorted by expert so each expert is one matmul on a contiguous
slice. Gate scores are sigmoids; a balancing bias (updated outside the gradient)
only changes which expert is picked, not the mixing weights.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.gate_up = nn.Linear(dim, 2 * hidden)
        self.down = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate, up = self.gate_up(x).chunk(2, dim=-1)
        return self.down(F.silu(gate) * up)


class HybridMoE(nn.Module):
    def __init__(self, dim: int, hidden: int, num_experts: int, bias_step: float = 1e-3):
        super().__init__()
        self.shared = SwiGLU(dim, hidden)
        self.experts = nn.ModuleList(SwiGLU(dim, hidden) for _ in range(num_experts))
        self.gate = nn.Linear(dim, num_experts + 1)  # column 0 scores the shared expert
        self.register_buffer("balance_bias", torch.zeros(num_experts))
        self.bias_step = bias_step
        self.last_counts: torch.Tensor | None = None

    def forward(self, x: torch.Tensor, routed: torch.Tensor) -> torch.Tensor:
        """x (N, dim) flattened tokens; routed (N,) bool marks boundary tokens."""
        out = self.shared(x)
        index = routed.nonzero().squeeze(1)
        if index.numel() == 0:
            self.last_counts = torch.zeros_like(self.balance_bias)
            return out
        xr = x[index]
        scores = torch.sigmoid(self.gate(xr))
        choice = torch.argmax(scores[:, 1:] + self.balance_bias, dim=-1)
        mix = torch.softmax(torch.stack([scores[:, 0], scores[:, 1:].gather(1, choice[:, None])[:, 0]], -1), -1)
        order = torch.argsort(choice, stable=True)
        counts = torch.bincount(choice, minlength=len(self.experts))
        self.last_counts = counts.detach().float()
        sorted_x = xr[order]
        expert_out = torch.empty_like(sorted_x)
        start = 0
        for expert, count in zip(self.experts, counts.tolist()):
            if count:
                expert_out[start : start + count] = expert(sorted_x[start : start + count])
            start += count
        routed_out = torch.empty_like(expert_out)
        routed_out[order] = expert_out
        mixed = mix[:, :1] * out[index] + mix[:, 1:] * routed_out
        return out.index_copy(0, index, mixed)

    @torch.no_grad()
    def update_balance_bias(self) -> None:
        """Nudge the bias of over-used experts down, under-used up (call once per training step)."""
        if self.last_counts is None or self.last_counts.sum() == 0:
            return
        self.balance_bias -= self.bias_step * torch.sign(self.last_counts - self.last_counts.mean())
