"""Grow a trained token decoder without changing what it computes.

A capacity test should start from the trained weights, not from scratch: training from
scratch costs more device time than a session has. So the growth is function-preserving:

- new DHA blocks are appended with their attention projection and every SwiGLU output
  projection at zero, so each new block is an identity (both halves are residual);
- wider SwiGLU experts keep the trained hidden units and add new ones whose output
  columns are zero, so the sum over hidden units is unchanged.

The new input-side weights keep their random initialisation; gradients reach them once
the zeroed output weights have moved away from zero.
"""

from __future__ import annotations

import dataclasses

import torch

from ..model import Inter2Former
from ..model.hybrid_moe import SwiGLU


def _widen_swiglu(new: SwiGLU, old: SwiGLU) -> None:
    """Copy `old` into the first hidden units of the wider `new`; zero the rest of `down`."""
    h = old.down.in_features
    big = new.down.in_features
    for name in ("weight", "bias"):
        old_gu, new_gu = getattr(old.gate_up, name), getattr(new.gate_up, name)
        new_gu[:h] = old_gu[:h]  # gate rows
        new_gu[big : big + h] = old_gu[h:]  # up rows
    new.down.weight.zero_()
    new.down.weight[:, :h] = old.down.weight
    new.down.bias.copy_(old.down.bias)


def _silence_block(block) -> None:
    """Zero every output projection of a DHA block: x + 0 + 0 is the identity."""
    block.attn.proj.weight.zero_()
    block.attn.proj.bias.zero_()
    for expert in [block.moe.shared, *block.moe.experts]:
        expert.down.weight.zero_()
        expert.down.bias.zero_()


@torch.no_grad()
def grow_token_decoder(model: Inter2Former, num_blocks: int | None = None, expert_hidden: int | None = None,
                       seed: int = 0) -> Inter2Former:
    """`model` with more DHA blocks and/or wider HMoE experts, computing the same function."""
    cfg = model.config
    num_blocks = cfg.num_blocks if num_blocks is None else num_blocks
    expert_hidden = cfg.expert_hidden if expert_hidden is None else expert_hidden
    if num_blocks < cfg.num_blocks or expert_hidden < cfg.expert_hidden:
        raise ValueError(f"can only grow the decoder: blocks {cfg.num_blocks} -> {num_blocks}, "
                         f"expert hidden {cfg.expert_hidden} -> {expert_hidden}")
    torch.manual_seed(seed)  # the new input-side weights' random init; the trainer reseeds its own streams
    grown = Inter2Former(dataclasses.replace(cfg, num_blocks=num_blocks, expert_hidden=expert_hidden))
    trained = model.state_dict()
    own = grown.state_dict()
    # Everything outside the SwiGLU experts keeps its shape: copy it straight over.
    same = {k: v for k, v in trained.items() if k in own and own[k].shape == v.shape
            and not (".gate_up." in k or ".down." in k)}
    grown.load_state_dict(same, strict=False)
    for index, block in enumerate(grown.blocks):
        if index >= cfg.num_blocks:
            _silence_block(block)
            continue
        old = model.blocks[index].moe
        for new_expert, old_expert in zip([block.moe.shared, *block.moe.experts], [old.shared, *old.experts]):
            _widen_swiglu(new_expert, old_expert)
    print(f"grew the token decoder: blocks {cfg.num_blocks} -> {num_blocks}, "
          f"expert hidden {cfg.expert_hidden} -> {expert_hidden}, "
          f"{sum(p.numel() for p in model.parameters())} -> {sum(p.numel() for p in grown.parameters())} parameters")
    return grown.train(model.training)
