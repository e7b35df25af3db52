"""Weights files: exact round trip, and a WeightsError with a useful message for every bad file."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from napari_inter2former.model import (
    Inter2Former,
    Inter2FormerConfig,
    WeightsError,
    load_model,
    save_model,
)
from napari_inter2former.model.reference_map import initial_reference_map, paint_click
from napari_inter2former.model.weights import read_metadata
from napari_inter2former.session import Predictor


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.manual_seed(0)
    model = Inter2Former().eval()
    # Non-trivial buffers too: the balance bias is saved with the weights.
    model.blocks[0].moe.balance_bias.copy_(torch.linspace(-0.01, 0.01, 8))
    path = tmp_path_factory.mktemp("weights") / "model.safetensors"
    save_model(model, path, extra_metadata={"note": "test"})
    return model, path


def _state(model):
    return {k: v.contiguous() for k, v in model.state_dict().items()}


def test_round_trip_gives_identical_outputs(saved):
    model, path = saved
    loaded = load_model(path)
    assert not loaded.training
    assert loaded.config == model.config
    assert read_metadata(path)["note"] == "test"
    for key, value in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    ref = initial_reference_map(64, 64)
    paint_click(ref, 30, 30, True, 5)
    with torch.no_grad():
        a = model.decode(model.encode(image), ref[None].long())
        b = loaded.decode(loaded.encode(image), ref[None].long())
    assert torch.equal(a.logits, b.logits)


def test_non_default_config_travels_with_the_weights(tmp_path):
    config = Inter2FormerConfig(dim=32, num_blocks=1, num_experts=2, bsq_bits=4)
    path = tmp_path / "small.safetensors"
    save_model(Inter2Former(config), path)
    assert load_model(path).config == config


def test_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="weights file not found: .*nothing.safetensors"):
        load_model(tmp_path / "nothing.safetensors")
    with pytest.raises(WeightsError, match="is a folder"):
        load_model(tmp_path)  # a directory is not a weights file


@pytest.mark.parametrize("keep", [0, 4, 100, "half", "minus_one"])
def test_truncated_file(saved, tmp_path, keep):
    _, path = saved
    data = path.read_bytes()
    cut = {"half": len(data) // 2, "minus_one": len(data) - 1}.get(keep, keep)
    bad = tmp_path / "cut.safetensors"
    bad.write_bytes(data[:cut])
    with pytest.raises(WeightsError, match=r"cut\.safetensors is corrupt or truncated"):
        load_model(bad)


@pytest.mark.parametrize("payload", [b"not a weights file at all\n" * 20, bytes(range(256)) * 8])
def test_garbage_file(tmp_path, payload):
    bad = tmp_path / "garbage.safetensors"
    bad.write_bytes(payload)
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        load_model(bad)


def test_wrong_shape_tensor(saved, tmp_path):
    model, _ = saved
    state = _state(model)
    state["blocks.0.attn.qkv.weight"] = torch.zeros(5, 5)
    bad = tmp_path / "shape.safetensors"
    save_file(state, str(bad), metadata={"config": model.config.to_json()})
    with pytest.raises(WeightsError, match=r"wrong shape \['blocks\.0\.attn\.qkv\.weight'\]"):
        load_model(bad)


def test_config_disagreeing_with_tensors(saved, tmp_path):
    """Right tensors, but metadata describing a wider model: every shape is wrong."""
    model, _ = saved
    bad = tmp_path / "config.safetensors"
    save_file(_state(model), str(bad), metadata={"config": Inter2FormerConfig(dim=96).to_json()})
    with pytest.raises(WeightsError, match="does not match the model"):
        load_model(bad)


def test_missing_and_unexpected_tensors(saved, tmp_path):
    model, _ = saved
    state = _state(model)
    del state["out_norm.weight"]
    state["extra.weight"] = torch.zeros(3)
    bad = tmp_path / "keys.safetensors"
    save_file(state, str(bad), metadata={"config": model.config.to_json()})
    with pytest.raises(WeightsError, match=r"missing \['out_norm\.weight'\], unexpected \['extra\.weight'\]"):
        load_model(bad)


def test_missing_or_invalid_config(saved, tmp_path):
    model, _ = saved
    plain = tmp_path / "plain.safetensors"
    save_file(_state(model), str(plain))
    with pytest.raises(WeightsError, match="no model config"):
        load_model(plain)
    for text, reason in [('{"bogus": 1}', "unknown config keys"), ("{not json", "invalid config"),
                         ('{"token_stride": 16}', "invalid config")]:
        bad = tmp_path / "cfg.safetensors"
        save_file(_state(model), str(bad), metadata={"config": text})
        with pytest.raises(WeightsError, match=reason):
            load_model(bad)


def test_non_finite_or_integer_tensors(saved, tmp_path):
    model, _ = saved
    state = _state(model)
    state["out_norm.weight"] = torch.full_like(state["out_norm.weight"], float("nan"))
    bad = tmp_path / "nan.safetensors"
    save_file(state, str(bad), metadata={"config": model.config.to_json()})
    with pytest.raises(WeightsError, match=r"NaN or infinite values in \['out_norm\.weight'\]: .*diverged"):
        load_model(bad)
    state = _state(model)
    state["out_norm.weight"] = state["out_norm.weight"].to(torch.int32)
    save_file(state, str(bad), metadata={"config": model.config.to_json()})
    with pytest.raises(WeightsError, match=r"\['out_norm\.weight'\] with the wrong kind of number"):
        load_model(bad)


def test_a_checkpoint_a_folder_or_a_negative_size_is_named(saved, tmp_path):
    model, _ = saved
    (tmp_path / "last.pt").write_bytes(b"\x80\x04pickled")
    with pytest.raises(WeightsError, match="is a training checkpoint, not a weights file"):
        load_model(tmp_path / "last.pt")
    with pytest.raises(WeightsError, match="is a folder: pass the .safetensors file"):
        load_model(tmp_path)
    bad = tmp_path / "neg.safetensors"
    save_file(_state(model), str(bad), metadata={"config": '{"dim": -5}'})
    with pytest.raises(WeightsError, match="invalid config"):
        load_model(bad)


def test_predictor_surfaces_weights_errors(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 3)
    with pytest.raises(WeightsError, match="corrupt or truncated"):
        Predictor(weights=bad)
    with pytest.raises(WeightsError, match="not found"):
        Predictor(weights=tmp_path / "absent.safetensors")


def test_averaging_takes_the_mean_and_refuses_other_configs(tmp_path):
    from napari_inter2former.training.averaging import average_weights, main

    paths = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        paths.append(tmp_path / f"m{seed}.safetensors")
        save_model(Inter2Former().eval(), paths[-1])
    a, b = load_model(paths[0]).state_dict(), load_model(paths[1]).state_dict()
    out = tmp_path / "mean.safetensors"
    main([str(out), str(paths[0]), str(paths[1])])
    mean = load_model(out).state_dict()
    first = next(iter(mean))  # the two random inits differ, so the mean is not one of them
    assert not torch.equal(a[first], b[first])
    for k in mean:
        if mean[k].is_floating_point():
            assert torch.allclose(mean[k], (a[k] + b[k]) / 2, atol=1e-6), k
    other = tmp_path / "other.safetensors"
    save_model(Inter2Former(Inter2FormerConfig(dlu_refine_blocks=1)).eval(), other)
    with pytest.raises(WeightsError, match="another model config"):
        average_weights([paths[0], other])
    with pytest.raises(ValueError):
        average_weights([])


def test_saved_weights_get_the_usual_file_mode(tmp_path):
    import os
    import stat

    path = tmp_path / "shared.safetensors"
    save_model(Inter2Former(), path)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask


@pytest.mark.parametrize("key, value, message", [
    ("click_radius", "x", "'click_radius' must be an integer, got 'x'"),
    ("background_logit", None, "'background_logit' must be a finite number, got None"),
    ("click_radius", -1, "'click_radius' must be between 0 and 64, got -1"),
    ("attn_dim", 0, "'attn_dim' must be between 1 and 4096, got 0"),  # was a ZeroDivisionError
    ("dlu_refine_blocks", 65, "'dlu_refine_blocks' must be between 0 and 64, got 65"),  # 10**9 hung
    ("dlu_reference", 1, "'dlu_reference' must be a bool"),
    ("edge_channels", [8, 16], "'edge_channels' must be a list of 3 numbers"),
])
def test_config_values_of_the_wrong_type_or_range_are_named_at_load(saved, tmp_path, key, value, message):
    import json

    model, _ = saved
    config = json.loads(model.config.to_json())
    config[key] = value
    bad = tmp_path / "cfg.safetensors"
    save_file(_state(model), str(bad), metadata={"config": json.dumps(config)})
    with pytest.raises(WeightsError, match=f"invalid config: config key {message}"):
        load_model(bad)
