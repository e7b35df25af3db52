"""Growing the token decoder (more DHA blocks, wider HMoE experts) keeps a trained model's function."""

from __future__ import annotations

import copy

import pytest
import torch

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.reference_map import (
    initial_reference_map,
    paint_click,
    update_reference_map,
)
from napari_inter2former.training.decoder_growth import grow_token_decoder

H, W = 64, 96


def _later_click_map():
    ref = initial_reference_map(H, W)
    paint_click(ref, 30, 40, True, 2)
    yy, xx = torch.meshgrid(torch.arange(H), torch.arange(W), indexing="ij")
    ref = update_reference_map(ref, ((yy - 30) ** 2 + (xx - 40) ** 2) < 15**2)
    paint_click(ref, 50, 80, False, 2)
    return ref[None].long()


@pytest.fixture(scope="module")
def trained_and_grown():
    torch.manual_seed(0)
    model = Inter2Former().eval()
    # Stand-in for training: non-zero balance biases, so routing depends on them too.
    for block in model.blocks:
        block.moe.balance_bias.normal_(std=0.1)
    return model, grow_token_decoder(model, num_blocks=4, expert_hidden=128, seed=3)


def test_grown_decoder_has_the_new_shape_and_more_parameters(trained_and_grown):
    model, grown = trained_and_grown
    assert (grown.config.num_blocks, grown.config.expert_hidden) == (4, 128)
    assert grown.blocks[1].moe.experts[0].down.in_features == 128
    assert sum(p.numel() for p in grown.parameters()) > 2 * sum(p.numel() for p in model.blocks.parameters())
    assert not grown.training
    assert torch.equal(grown.blocks[0].moe.balance_bias, model.blocks[0].moe.balance_bias)


@pytest.mark.parametrize("fast", [False, True], ids=["dense", "fast"])
def test_grown_decoder_computes_the_same_function(trained_and_grown, fast):
    model, grown = trained_and_grown
    image = torch.rand(1, 3, H, W)
    ref = _later_click_map()
    with torch.no_grad():
        a = model.decode(model.encode(image), ref, fast=fast)
        b = grown.decode(grown.encode(image), ref, fast=fast)
    assert torch.allclose(a.coarse_logits, b.coarse_logits, atol=1e-5)
    assert torch.allclose(a.logits, b.logits, atol=1e-4)


def test_new_output_projections_receive_gradients(trained_and_grown):
    _, grown = trained_and_grown
    grown = copy.deepcopy(grown).train()  # a copy: the module-scoped fixture stays in eval mode
    out = grown.decode(grown.encode(torch.rand(1, 3, H, W)), _later_click_map(), fast=False)
    (out.logits.mean() + out.commit_loss).backward()
    assert grown.blocks[3].attn.proj.weight.grad.abs().sum() > 0  # new block: zero weights, live gradient
    assert grown.blocks[0].moe.shared.down.weight.grad[:, 64:].abs().sum() > 0  # new hidden units


def test_growth_refuses_to_shrink(trained_and_grown):
    _, grown = trained_and_grown
    with pytest.raises(ValueError, match="can only grow"):
        grow_token_decoder(grown, num_blocks=2)
