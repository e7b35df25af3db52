"""HMoE: the sorted-by-expert implementation against a per-token loop, and the balance bias."""

from __future__ import annotations

import torch

from napari_inter2former.model.hybrid_moe import HybridMoE

ATOL = 1e-6  # the same small matmuls, batched vs one row at a time


def _per_token(moe: HybridMoE, x: torch.Tensor, routed: torch.Tensor) -> torch.Tensor:
    rows = []
    for token, is_routed in zip(x, routed):
        shared = moe.shared(token[None])[0]
        if not is_routed:
            rows.append(shared)
            continue
        scores = torch.sigmoid(moe.gate(token))
        expert = int(torch.argmax(scores[1:] + moe.balance_bias))
        w_shared, w_expert = torch.softmax(torch.stack([scores[0], scores[1 + expert]]), dim=0)
        rows.append(w_shared * shared + w_expert * moe.experts[expert](token[None])[0])
    return torch.stack(rows)


def test_sorted_experts_equal_per_token_loop():
    torch.manual_seed(0)
    moe = HybridMoE(dim=16, hidden=24, num_experts=4)
    x = torch.randn(50, 16)
    routed = torch.rand(50) < 0.6
    with torch.no_grad():
        out = moe(x, routed)
        ref = _per_token(moe, x, routed)
    assert torch.allclose(out, ref, atol=ATOL)
    # Several experts were used, so sorting and un-sorting was exercised.
    assert int((moe.last_counts > 0).sum()) >= 2
    assert int(moe.last_counts.sum()) == int(routed.sum())


def test_no_routed_tokens_is_the_shared_expert():
    torch.manual_seed(1)
    moe = HybridMoE(dim=8, hidden=8, num_experts=3)
    x = torch.randn(10, 8)
    with torch.no_grad():
        out = moe(x, torch.zeros(10, dtype=torch.bool))
        assert torch.allclose(out, moe.shared(x), atol=ATOL)
    assert moe.last_counts.sum() == 0


def test_gradients_reach_shared_routed_expert_and_gate():
    torch.manual_seed(2)
    moe = HybridMoE(dim=8, hidden=8, num_experts=2)
    moe(torch.randn(20, 8), torch.ones(20, dtype=torch.bool)).sum().backward()
    assert moe.shared.down.weight.grad.abs().sum() > 0
    assert moe.gate.weight.grad.abs().sum() > 0
    assert any(e.down.weight.grad is not None and e.down.weight.grad.abs().sum() > 0 for e in moe.experts)


def test_balance_bias_moves_against_over_used_experts():
    torch.manual_seed(3)
    moe = HybridMoE(dim=8, hidden=8, num_experts=4, bias_step=0.01)
    # Force expert 2 to win for every token.
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 5.0, 0.0]))
        moe(torch.randn(12, 8), torch.ones(12, dtype=torch.bool))
    assert moe.last_counts.tolist() == [0, 0, 12, 0]
    moe.update_balance_bias()
    assert torch.allclose(moe.balance_bias, torch.tensor([0.01, 0.01, -0.01, 0.01]))


def test_balance_bias_changes_choice_not_mixing():
    torch.manual_seed(4)
    moe = HybridMoE(dim=8, hidden=8, num_experts=2)
    x = torch.randn(6, 8)
    routed = torch.ones(6, dtype=torch.bool)
    with torch.no_grad():
        moe.gate.weight.zero_()
        moe.gate.bias.copy_(torch.tensor([0.3, 1.0, 0.0]))  # expert 0 scores higher for all
        before = moe(x, routed)
        assert moe.last_counts.tolist() == [6, 0]
        # A bias that does not flip the choice leaves the output unchanged ...
        moe.balance_bias.copy_(torch.tensor([0.0, 0.05]))
        assert torch.equal(moe(x, routed), before)
        # ... one that flips it routes to the other expert, mixed with its own (unbiased) score.
        moe.balance_bias.copy_(torch.tensor([0.0, 1.0]))
        after = moe(x, routed)
        assert moe.last_counts.tolist() == [0, 6]
        assert torch.allclose(after, _per_token(moe, x, routed), atol=ATOL)
        assert not torch.allclose(after, before)


def test_repeated_bias_updates_spread_the_load():
    torch.manual_seed(5)
    moe = HybridMoE(dim=8, hidden=8, num_experts=4, bias_step=0.05)
    x = torch.randn(64, 8)
    routed = torch.ones(64, dtype=torch.bool)
    with torch.no_grad():
        moe(x, routed)
        first = moe.last_counts.clone()
        for _ in range(60):
            moe(x, routed)
            moe.update_balance_bias()
        moe(x, routed)
    assert moe.last_counts.max() < first.max()
