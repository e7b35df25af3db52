"""The eval-mode fast path of `Inter2Former.decode` computes the training path's function."""

from __future__ import annotations

import pytest
import torch

from napari_inter2former.model import Inter2Former, Inter2FormerConfig
from napari_inter2former.model.reference_map import (
    initial_reference_map,
    paint_click,
    update_reference_map,
)
from napari_inter2former.model.routing import boundary_tokens

ATOL = 1e-4  # two DHA blocks + upsampler in float32; observed max difference ~5e-7
H, W = 96, 128


@pytest.fixture(scope="module", params=[(False, 0), (True, 0), (True, 2)],
                ids=["paper-dlu", "dlu-with-reference", "dlu-with-refine-blocks"])
def model_and_features(request):
    reference, refine = request.param
    torch.manual_seed(0)
    model = Inter2Former(Inter2FormerConfig(dlu_reference=reference, dlu_refine_blocks=refine)).eval()
    # The new tensors start at zero: give them weights so that R and the refine blocks matter here.
    for stage in model.upsampler.stages if reference else ():
        torch.nn.init.normal_(stage.ref_proj.weight, std=0.5)
    for block in model.upsampler.refine:
        torch.nn.init.normal_(block.conv2.weight, std=0.2)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    blob = (((yy - 40) ** 2 + (xx - 60) ** 2) < 20**2).float()
    image = (0.2 + 0.6 * blob + 0.05 * torch.rand(H, W)).expand(1, 3, H, W).contiguous()
    with torch.no_grad():
        feats = model.encode(image)
    return model, feats


def _later_click_map():
    """A map after one prediction plus a corrective negative click: mixed routing."""
    ref = initial_reference_map(H, W)
    paint_click(ref, 40, 60, True, 5)
    # A compact "previous prediction" (a random-init model predicts most of the window),
    # so that the map has both boundary and calm areas.
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    previous = ((yy - 40) ** 2 + (xx - 60) ** 2) < 22**2
    ref = update_reference_map(ref, previous)
    paint_click(ref, 70, 100, False, 5)
    return ref


def test_fast_equals_dense_with_mixed_routing(model_and_features):
    model, feats = model_and_features
    ref = _later_click_map()
    boundary = boundary_tokens(ref[None], 8)
    assert 0 < int(boundary.sum()) < boundary.numel()
    with torch.no_grad():
        fast = model.decode(feats, ref[None].long(), fast=True)
        dense = model.decode(feats, ref[None].long(), fast=False)
    assert torch.allclose(fast.coarse_logits, dense.coarse_logits, atol=ATOL)
    box = model.upsampler.box(fast.coarse_logits)
    # Random init: coarse logits ~0 > -2 everywhere, so the DLU box is the whole window here.
    assert box == (0, H // 8, 0, W // 8)
    t0, t1, l0, l1 = box
    assert torch.allclose(fast.logits[..., t0 * 8 : t1 * 8, l0 * 8 : l1 * 8],
                          dense.logits[..., t0 * 8 : t1 * 8, l0 * 8 : l1 * 8], atol=ATOL)
    assert torch.equal(fast.logits > 0, dense.logits > 0)
    assert fast.commit_loss.item() == 0.0 and dense.commit_loss.item() > 0.0


def test_fast_equals_dense_first_click(model_and_features):
    model, feats = model_and_features
    ref = initial_reference_map(H, W)
    paint_click(ref, 40, 60, True, 5)
    assert boundary_tokens(ref[None], 8).all()  # first click: everything unknown
    with torch.no_grad():
        fast = model.decode(feats, ref[None].long(), fast=True)
        dense = model.decode(feats, ref[None].long(), fast=False)
        full = model.decode(feats, ref[None].long(), fast=False, all_full_attention=True)
    assert torch.allclose(fast.logits, dense.logits, atol=ATOL)
    # All tokens are boundary tokens, so hybrid attention is full attention.
    assert torch.allclose(full.logits, dense.logits, atol=ATOL)


def test_fast_equals_dense_inside_a_partial_dlu_box(model_and_features, monkeypatch):
    model, feats = model_and_features
    ref = _later_click_map()
    # Pin the coarse logits to a blob so that the DLU box is a strict part of the window.
    coarse = torch.full((1, 1, H // 8, W // 8), -5.0)
    coarse[..., 3:7, 5:9] = 1.0
    monkeypatch.setattr(model.upsampler, "coarse", lambda feats: coarse)
    with torch.no_grad():
        fast = model.decode(feats, ref[None].long(), fast=True)
        dense = model.decode(feats, ref[None].long(), fast=False)
    t0, t1, l0, l1 = model.upsampler.box(coarse)
    assert (t0, t1, l0, l1) == (2, 8, 4, 10)
    inside = (..., slice(t0 * 8, t1 * 8), slice(l0 * 8, l1 * 8))
    assert torch.allclose(fast.logits[inside], dense.logits[inside], atol=ATOL)
    assert torch.equal(fast.logits[inside] > 0, dense.logits[inside] > 0)
    outside = torch.ones(H, W, dtype=torch.bool)
    outside[t0 * 8 : t1 * 8, l0 * 8 : l1 * 8] = False
    assert (fast.logits[0, 0][outside] == model.config.background_logit).all()


def test_decode_and_encode_validate_shapes(model_and_features):
    model, feats = model_and_features
    with pytest.raises(ValueError, match="does not match features"):
        model.decode(feats, torch.zeros(1, H + 8, W, dtype=torch.long))
    with pytest.raises(ValueError, match="multiples of 16"):
        model.encode(torch.zeros(1, 3, 40, 48))
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        model.encode(torch.zeros(1, 1, 32, 32))
    with pytest.raises(ValueError, match="one window at a time"):
        two = type(feats)(feats.tokens.expand(2, -1, -1, -1), tuple(e.expand(2, -1, -1, -1) for e in feats.edges))
        model.decode(two, torch.zeros(2, H, W, dtype=torch.long), fast=True)
    with pytest.raises(ValueError, match="stride"):
        Inter2Former(Inter2FormerConfig(token_stride=16))


def test_dense_path_is_batched(model_and_features):
    """Training decodes a batch; each item equals decoding it alone."""
    model, feats = model_and_features
    ref = _later_click_map()
    refs = torch.stack([ref, initial_reference_map(H, W)]).long()
    two = type(feats)(feats.tokens.expand(2, -1, -1, -1), tuple(e.expand(2, -1, -1, -1) for e in feats.edges))
    with torch.no_grad():
        batched = model.decode(two, refs, fast=False)
        single = model.decode(feats, refs[1:], fast=False)
    assert batched.logits.shape == (2, 1, H, W)
    assert torch.allclose(batched.logits[1:], single.logits, atol=ATOL)


@pytest.mark.parametrize("change, new_tensors", [({"dlu_reference": True}, ".ref_proj."),
                                                  ({"dlu_refine_blocks": 2}, ".refine."),
                                                  ({"neck_blocks": 2}, "encoder.neck.")])
def test_added_parts_start_as_no_ops(change, new_tensors):
    """Adding R or refine blocks to the upsampler, or neck blocks to the encoder, of a trained
    model keeps its function until training moves the new tensors."""
    torch.manual_seed(1)
    plain = Inter2Former().eval()
    extended = Inter2Former(Inter2FormerConfig(**change)).eval()
    missing, unexpected = extended.load_state_dict(plain.state_dict(), strict=False)
    assert not unexpected and missing and all(new_tensors in k for k in missing)
    image = torch.rand(1, 3, 64, 64)
    ref = initial_reference_map(64, 64)
    paint_click(ref, 30, 30, True, 2)
    with torch.no_grad():
        a = plain.decode(plain.encode(image), ref[None].long(), fast=False).logits
        b = extended.decode(extended.encode(image), ref[None].long(), fast=False).logits
    assert torch.allclose(a, b, atol=1e-6)
