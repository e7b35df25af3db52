"""DPE and DLU: the ROI-restricted fast paths equal the whole-map computation inside their box."""

from __future__ import annotations

import torch

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.local_upsampler import DynamicLocalUpsampler
from napari_inter2former.model.prompt_embedding import DynamicPromptEmbedding
from napari_inter2former.model.reference_map import (
    CERTAIN_BG,
    LIKELY_BG,
    LIKELY_FG,
    UNKNOWN,
    paint_click,
)

ATOL = 1e-5  # float32 convolutions on the same numbers in another order; observed ~3e-7


def _outside(shape, box):
    t0, t1, l0, l1 = box
    mask = torch.ones(shape, dtype=torch.bool)
    mask[t0:t1, l0:l1] = False
    return mask


def _dpe():
    torch.manual_seed(0)
    return DynamicPromptEmbedding(dim=64, stride=8, embed_dim=16).eval()


def test_dpe_inside_roi_equals_dense_and_background_outside():
    dpe = _dpe()
    ref = torch.full((160, 192), LIKELY_BG, dtype=torch.uint8)
    ref[40:70, 50:90] = LIKELY_FG
    paint_click(ref, 55, 70, True, 5)
    paint_click(ref, 100, 150, False, 5)
    with torch.no_grad():
        fast, dense = dpe(ref), dpe.dense(ref[None])
        background = dpe.background_vector()
    box = dpe.roi_box(ref, 8)
    # Pixels != probably background span rows 40..105, cols 50..155 -> tokens 5..13, 6..19, grown by one.
    assert box == (4, 15, 5, 21)
    t0, t1, l0, l1 = box
    assert torch.allclose(fast[..., t0:t1, l0:l1], dense[..., t0:t1, l0:l1], atol=ATOL)
    outside = _outside((20, 24), box)
    assert outside.any()
    assert torch.allclose(dense[0][:, outside], background[:, None].expand(-1, int(outside.sum())), atol=ATOL)
    assert torch.equal(fast[0][:, outside], background[:, None].expand(-1, int(outside.sum())))


def test_dpe_roi_at_window_edge_and_whole_map():
    dpe = _dpe()
    ref = torch.full((64, 64), LIKELY_BG, dtype=torch.uint8)
    paint_click(ref, 0, 63, True, 5)  # partial disk in the top-right corner
    with torch.no_grad():
        fast, dense = dpe(ref), dpe.dense(ref[None])
    t0, t1, l0, l1 = dpe.roi_box(ref, 8)
    assert (t0, t1, l1) == (0, 2, 8)
    assert torch.allclose(fast[..., t0:t1, l0:l1], dense[..., t0:t1, l0:l1], atol=ATOL)
    # First click: everything unknown -> the ROI is the whole map.
    unknown = torch.full((64, 64), UNKNOWN, dtype=torch.uint8)
    with torch.no_grad():
        assert dpe.roi_box(unknown, 8) == (0, 8, 0, 8)
        assert torch.allclose(dpe(unknown), dpe.dense(unknown[None]), atol=ATOL)


def test_dpe_without_roi_is_constant_background():
    dpe = _dpe()
    ref = torch.full((32, 48), LIKELY_BG, dtype=torch.uint8)
    with torch.no_grad():
        fast, dense = dpe(ref), dpe.dense(ref[None])
        background = dpe.background_vector()
    assert dpe.roi_box(ref, 8) is None
    assert torch.allclose(dense, background.view(1, -1, 1, 1).expand_as(dense), atol=ATOL)
    assert torch.equal(fast, background.view(1, -1, 1, 1).expand_as(fast))


def test_dpe_rejects_non_power_of_two_stride():
    try:
        DynamicPromptEmbedding(dim=16, stride=6, embed_dim=8)
    except ValueError as err:
        assert "power of two" in str(err)
    else:
        raise AssertionError("stride 6 was accepted")


def _upsampler_and_edges(height=160, width=192):
    torch.manual_seed(0)
    model = Inter2Former().eval()
    with torch.no_grad():
        edges = model.edge_branch(torch.rand(1, 3, height, width))
    up: DynamicLocalUpsampler = model.upsampler
    # Make the coarse logit a readable function of channel 0: coarse = relu(c0) - 3,
    # so the box is exactly where we put c0 > 1.
    head = up.coarse_head
    with torch.no_grad():
        head[0].weight.zero_()
        head[0].bias.zero_()
        head[0].weight[0, 0, 0, 0] = 1.0
        head[2].weight.zero_()
        head[2].weight[0, 0, 0, 0] = 1.0
        head[2].bias.fill_(-3.0)
    return up, edges


def _check_dlu(up, edges, feats, expected_box):
    s = up.stride
    with torch.no_grad():
        fast, coarse_fast = up(feats, edges)
        dense, coarse_dense = up.dense(feats, edges)
    box = up.box(coarse_fast)
    assert box == expected_box
    t0, t1, l0, l1 = box
    assert torch.equal(coarse_fast, coarse_dense)
    assert torch.allclose(fast[..., t0 * s : t1 * s, l0 * s : l1 * s], dense[..., t0 * s : t1 * s, l0 * s : l1 * s],
                          atol=ATOL)
    outside = _outside(fast.shape[-2:], (t0 * s, t1 * s, l0 * s, l1 * s))
    assert outside.any()
    assert (fast[0, 0][outside] == up.background_logit).all()
    # The dense map is not constant outside: the box really cut something off.
    assert (dense[0, 0][outside] != up.background_logit).all()


def test_dlu_inside_box_equals_dense_and_background_outside():
    up, edges = _upsampler_and_edges()
    torch.manual_seed(1)
    feats = torch.randn(1, 64, 20, 24)
    feats[:, 0] = -1.0
    feats[:, 0, 8:12, 9:14] = 4.0
    _check_dlu(up, edges, feats, (7, 13, 8, 15))


def test_dlu_box_touching_the_window_edge():
    up, edges = _upsampler_and_edges()
    torch.manual_seed(2)
    feats = torch.randn(1, 64, 20, 24)
    feats[:, 0] = -1.0
    feats[:, 0, 0:3, 20:24] = 4.0
    _check_dlu(up, edges, feats, (0, 4, 19, 24))


def test_dlu_empty_box_is_all_background():
    up, edges = _upsampler_and_edges()
    feats = torch.zeros(1, 64, 20, 24)
    feats[:, 0] = -1.0
    with torch.no_grad():
        logits, coarse = up(feats, edges)
    assert up.box(coarse) is None
    assert (logits == up.background_logit).all()
    assert logits.shape == (1, 1, 160, 192)


def test_click_disk_values():
    ref = torch.full((20, 20), LIKELY_BG, dtype=torch.uint8)
    paint_click(ref, 10, 10, False, 3)
    assert ref[10, 10] == CERTAIN_BG and ref[10, 13] == CERTAIN_BG and ref[13, 13] == LIKELY_BG
    assert int((ref == CERTAIN_BG).sum()) == 29  # lattice points with y^2 + x^2 <= 9
