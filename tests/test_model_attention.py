"""BSQ bucketed attention and DHA against plain softmax attention written out here."""

from __future__ import annotations

import torch

from napari_inter2former.model.bsq_attention import BinaryKeyQuantizer
from napari_inter2former.model.hybrid_attention import DynamicHybridAttention
from napari_inter2former.model.rope import apply_rope, rope_tables

ATOL = 1e-5  # float32 attention over <= 300 tokens; observed differences are ~1e-7


def _plain_attention(q, k, v, scale):
    return torch.softmax(scale * q @ k.transpose(-1, -2), dim=-1) @ v


def _reference_keys(quantizer: BinaryKeyQuantizer, k: torch.Tensor) -> torch.Tensor:
    """Quantised key of every token, spelled out: bits of the normalised projection -> K(b)."""
    u = torch.nn.functional.normalize(k @ quantizer.code_proj.weight.t(), dim=-1)
    bits = (u >= 0).float()
    return torch.cat([bits, 1 - bits], dim=-1) @ quantizer.basis


def _rope_reference(x: torch.Tensor, height: int, width: int, base: float) -> torch.Tensor:
    """2-D RoPE via complex rotation: first half of the channel pairs turn with the row index,
    second half with the column index, frequency base**(-j / quarter)."""
    n, d = x.shape
    quarter = d // 4
    freqs = base ** (-torch.arange(quarter, dtype=torch.float64) / quarter)
    rows = torch.arange(height, dtype=torch.float64).repeat_interleave(width)
    cols = torch.arange(width, dtype=torch.float64).repeat(height)
    angles = torch.cat([rows[:, None] * freqs, cols[:, None] * freqs], dim=1)  # (N, d/2)
    pairs = torch.view_as_complex(x.double().reshape(n, d // 2, 2).contiguous())
    return torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).reshape(n, d).float()


def test_bucketed_attention_equals_softmax_over_quantised_keys():
    torch.manual_seed(0)
    quantizer = BinaryKeyQuantizer(head_dim=32, bits=8)
    q, k, v = torch.randn(40, 32), torch.randn(300, 32), torch.randn(300, 32)
    scale = 32**-0.5
    bucketed = quantizer.bucketed_attention(q, k, v, scale)
    reference = _plain_attention(q, _reference_keys(quantizer, k), v, scale)
    explicit, commit = quantizer.explicit_attention(q[None], k[None], v[None], scale)
    # Many tokens share a code, so the bucketing really merged keys.
    assert quantizer.codes(k).unique().numel() < 300
    assert torch.allclose(bucketed, reference, atol=ATOL)
    assert torch.allclose(explicit[0], reference, atol=ATOL)
    assert commit.item() >= 0


def test_bucketed_attention_with_few_codes_and_large_logits():
    """Sharp attention (large scale) and only a handful of distinct codes stay exact."""
    torch.manual_seed(1)
    quantizer = BinaryKeyQuantizer(head_dim=16, bits=3)
    q, k, v = torch.randn(10, 16) * 3, torch.randn(64, 16), torch.randn(64, 8)
    bucketed = quantizer.bucketed_attention(q, k, v, scale=2.0)
    reference = _plain_attention(q, _reference_keys(quantizer, k), v, 2.0)
    assert torch.allclose(bucketed, reference, atol=ATOL)


def test_quantised_keys_straight_through_gradient_reaches_projection():
    torch.manual_seed(2)
    quantizer = BinaryKeyQuantizer(head_dim=8, bits=4)
    keys, commit = quantizer.quantized_keys(torch.randn(5, 8))
    (keys.sum() + commit).backward()
    assert quantizer.code_proj.weight.grad is not None
    assert quantizer.code_proj.weight.grad.abs().sum() > 0


def _dha_and_inputs(height=6, width=7, seed=0):
    torch.manual_seed(seed)
    attn = DynamicHybridAttention(dim=24, head_dim=32, bits=8).eval()
    x = torch.randn(height * width, 24)
    cos, sin = rope_tables(height, width, 32, base=100.0)
    return attn, x, cos, sin


def test_rope_tables_match_complex_rotation():
    torch.manual_seed(0)
    cos, sin = rope_tables(6, 7, 32, base=100.0)
    q = torch.randn(42, 32)
    assert torch.allclose(apply_rope(q, cos, sin), _rope_reference(q, 6, 7, 100.0), atol=1e-5)


def test_dha_all_boundary_equals_full_attention_with_rope():
    height, width = 6, 7
    attn, x, cos, sin = _dha_and_inputs(height, width)
    boundary = torch.ones(height * width, dtype=torch.bool)
    with torch.no_grad():
        q, k, v = (x @ attn.qkv.weight.t() + attn.qkv.bias).chunk(3, dim=-1)
        qr, kr = _rope_reference(q, height, width, 100.0), _rope_reference(k, height, width, 100.0)
        expected = _plain_attention(qr, kr, v, 32**-0.5) @ attn.proj.weight.t() + attn.proj.bias
        dense, _ = attn.forward_dense(x[None], boundary[None], cos, sin)
        fast = attn.forward_fast(x, boundary, cos, sin)
        all_full, _ = attn.forward_dense(x[None], torch.zeros_like(boundary)[None], cos, sin, all_full=True)
    assert torch.allclose(dense[0], expected, atol=ATOL)
    assert torch.allclose(fast, expected, atol=ATOL)
    # all_full ignores the routing: even with no boundary token it is full attention.
    assert torch.allclose(all_full[0], expected, atol=ATOL)


def test_dha_mixed_routing_fast_equals_dense_and_picks_per_token():
    height, width = 6, 7
    attn, x, cos, sin = _dha_and_inputs(height, width, seed=3)
    boundary = torch.rand(height * width) < 0.4
    assert 0 < boundary.sum() < boundary.numel()
    with torch.no_grad():
        dense, _ = attn.forward_dense(x[None], boundary[None], cos, sin)
        fast = attn.forward_fast(x, boundary, cos, sin)
        full, _ = attn.forward_dense(x[None], boundary[None], cos, sin, all_full=True)
        q, k, v = attn.qkv(x).chunk(3, dim=-1)
        bsq = attn.proj(_plain_attention(q, _reference_keys(attn.quantizer, k), v, attn.scale))
    assert torch.allclose(fast, dense[0], atol=ATOL)
    # Boundary tokens get exact attention, the others BSQ attention (no RoPE).
    assert torch.allclose(fast[boundary], full[0][boundary], atol=ATOL)
    assert torch.allclose(fast[~boundary], bsq[~boundary], atol=ATOL)
    # ... and the two really differ, so the check above is not vacuous.
    assert (full[0][~boundary] - bsq[~boundary]).abs().max() > 1e-3
