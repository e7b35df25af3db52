"""`napari-inter2former train` as a user runs it: interruptions, resumes, run folders, bad input.
Tiny data and a few steps: what matters is what is kept, refused or said, not the model."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from test_training import _write_folder

from napari_inter2former.cli import main as cli_main
from napari_inter2former.session import default_weights_path
from napari_inter2former.training import averaging
from napari_inter2former.training import trainer as trainer_module

FAST = ["--val", "", "--batch", "1", "--crop", "64", "--threads", "1", "--no-progress", "--max-rounds", "1"]


def _train(tmp_path, *extra):
    return cli_main(["train", "--data", str(tmp_path / "data"), "--out", str(tmp_path / "run"), *FAST, *extra])


@pytest.fixture
def data(tmp_path):
    _write_folder(tmp_path / "data")
    return tmp_path


def _step(run):
    return int(torch.load(run / "last.pt", weights_only=True)["step"])


def test_ctrl_c_saves_a_resumable_checkpoint(data, monkeypatch, capsys):
    real_step = trainer_module.Trainer.train_step

    def interrupted_at_three(self):
        if self.step == 3:
            raise KeyboardInterrupt
        return real_step(self)

    monkeypatch.setattr(trainer_module.Trainer, "train_step", interrupted_at_three)
    assert _train(data, "--steps", "50", "--checkpoint-every", "1000") == 130
    assert _step(data / "run") == 3  # no checkpoint was due before step 1000
    assert "continue with the same command and --resume" in capsys.readouterr().err
    monkeypatch.setattr(trainer_module.Trainer, "train_step", real_step)
    assert _train(data, "--steps", "5", "--resume") == 0 and _step(data / "run") == 5


def test_resuming_a_finished_time_budget_run_does_not_start_a_new_budget(data):
    assert _train(data, "--steps", "1000000", "--time-budget", "1.5", "--warmup", "1") == 0
    done = _step(data / "run")
    assert _train(data, "--steps", "1000000", "--time-budget", "1.5", "--warmup", "1", "--resume") == 0
    assert _step(data / "run") == done  # the budget is spent: the clock survives the resume


def test_resume_rebuilds_the_checkpoints_own_model(data, capsys):
    # Fine-tuned from the shipped weights (whose config differs from a fresh model's), then
    # resumed without repeating --init-weights: used to fail with unexpected keys.
    assert _train(data, "--steps", "2", "--init-weights", str(default_weights_path())) == 0
    assert _train(data, "--steps", "3", "--resume") == 0 and _step(data / "run") == 3


def test_a_used_run_folder_is_not_overwritten_without_resume(data, capsys):
    assert _train(data, "--steps", "2") == 0
    before = (data / "run" / "last.pt").read_bytes()
    assert _train(data, "--steps", "1") == 2
    assert "already holds a run (last.pt): pass --resume" in capsys.readouterr().err
    assert (data / "run" / "last.pt").read_bytes() == before


@pytest.mark.parametrize("option, message", [
    (["--crop", "100"], "--crop must be a multiple of 16"),
    (["--batch", "0"], "--batch must be at least 1"),
    (["--checkpoint-every", "0"], "--checkpoint-every must be at least 1"),
    (["--usiigaci-weight", "1.5"], "--usiigaci-weight must be between 0 and 1"),
    (["--match-native", "1.5"], "--match-native must be between 0 and 1"),
    (["--max-rounds", "-1"], "--max-rounds cannot be negative"),
    (["--seed", "-1"], "--seed cannot be negative, got -1"),
])
def test_options_out_of_range_are_refused_before_training(data, capsys, option, message):
    assert _train(data, *option) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former train: error: ") and message in err
    assert not (data / "run" / "last.pt").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_is_one_line(data, capsys):
    assert _train(data, "--device", "cuda") == 2
    assert "no usable CUDA device; use --device cpu" in capsys.readouterr().err


def test_bad_data_is_one_line_and_a_blank_image_is_skipped(data, capsys):
    tifffile.imwrite(data / "data" / "images" / "blank.tif", np.zeros((96, 96), np.uint8))
    tifffile.imwrite(data / "data" / "labels" / "blank.tif", np.ones((96, 96), np.uint16))
    assert _train(data, "--steps", "1") == 0
    assert "skipped blank.tif: image is constant" in capsys.readouterr().out
    tifffile.imwrite(data / "data" / "images" / "volume.tif", np.zeros((5, 96, 96), np.uint8))
    tifffile.imwrite(data / "data" / "labels" / "volume.tif", np.zeros((96, 96), np.uint16))
    assert cli_main(["train", "--data", str(data / "data"), "--out", str(data / "run2"), *FAST]) == 2
    assert "volume.tif: images must be (H, W) grey or (H, W, 3|4) colour" in capsys.readouterr().err


def test_a_file_that_is_not_packed_data_is_named_without_pickle_advice(data, capsys):
    bad = data / "bad.npz"
    bad.write_bytes(b"not a zip archive")
    assert cli_main(["train", "--data", str(bad), "--out", str(data / "run"), *FAST]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"napari-inter2former train: error: {bad} is not a packed training file")
    assert "pickle" not in err


def _train_with_val(data, val):
    return cli_main(["train", "--data", str(data / "data"), "--out", str(data / "run"), "--val", str(val),
                     *FAST[2:], "--steps", "1", "--val-per-image", "1"])


def test_a_val_folder_that_cannot_be_used_is_refused_before_training(data, capsys):
    _write_folder(data / "val", n_images=1)
    (data / "val" / "labels" / "syn_0.tif").unlink()
    assert _train_with_val(data, data / "val") == 2
    assert f"error: --val {data / 'val'}: image syn_0.tif has no label file" in capsys.readouterr().err
    assert not (data / "run" / "last.pt").exists()
    _write_folder(data / "blank", n_images=1)
    tifffile.imwrite(data / "blank" / "images" / "syn_0.tif", np.zeros((96, 96), np.uint8))
    assert _train_with_val(data, data / "blank") == 2
    assert "no usable image" in capsys.readouterr().err and not (data / "run" / "last.pt").exists()


def test_a_blank_val_image_is_skipped_at_validation(data, capsys):
    _write_folder(data / "val", n_images=2)
    blank = data / "val" / "images" / "syn_0.tif"
    tifffile.imwrite(blank, np.zeros((96, 96), np.uint8))
    assert _train_with_val(data, data / "val") == 0
    assert f"skipped {blank}: image is constant" in capsys.readouterr().err


def test_averaging_refuses_to_overwrite_an_input(tmp_path):
    from napari_inter2former.model import save_model
    from napari_inter2former.training.trainer import build_model

    paths = [tmp_path / "last.safetensors", tmp_path / "snapshot-000001.safetensors"]
    for path in paths:
        save_model(build_model(False), path)
    before = paths[0].read_bytes()
    with pytest.raises(SystemExit) as exit_info:
        averaging.main([str(p) for p in paths])  # a glob: the first match became the output
    assert exit_info.value.code == 2 and paths[0].read_bytes() == before


def test_averaging_names_a_bad_input_or_output_in_one_line(tmp_path, capsys):
    from napari_inter2former.model import save_model
    from napari_inter2former.training.trainer import build_model

    good = tmp_path / "a.safetensors"
    save_model(build_model(False), good)
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00" * 10)
    (tmp_path / "a-file").write_text("")
    for argv, message in [([tmp_path / "out.safetensors", good, tmp_path / "missing.safetensors"],
                           "weights file not found"),
                          ([tmp_path / "out.safetensors", good, corrupt], "is corrupt or truncated"),
                          ([tmp_path / "a-file" / "out.safetensors", good], "a-file is a file"),
                          ([tmp_path, good, "--force"], f"the output {tmp_path} is a folder")]:
        with pytest.raises(SystemExit) as exit_info:
            averaging.main([str(a) for a in argv])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out.safetensors").exists()
