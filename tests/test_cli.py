"""The command line turns bad input into one line on stderr and exit status 2, not a traceback."""

import subprocess
import sys

from napari_inter2former.cli import main as cli_main


def test_train_on_a_missing_folder(tmp_path, capsys):
    assert cli_main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former train: error: ")
    assert "must contain images/ and labels/" in err and "Traceback" not in err


def test_train_checks_the_validation_folder_before_training(tmp_path, capsys):
    from test_training import _write_folder

    _write_folder(tmp_path / "data")
    out = tmp_path / "run"
    assert cli_main(["train", "--data", str(tmp_path / "data"), "--val", str(tmp_path / "no-val"), "--out", str(out),
                     "--steps", "1", "--batch", "1", "--crop", "64", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former train: error: validation folder not found: ")
    assert not out.exists()  # nothing trained before the check


def test_benchmark_with_corrupt_weights(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    assert cli_main(["benchmark", "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former benchmark: error: ")
    assert "corrupt or truncated" in err


def test_evaluate_names_the_option_out_of_range(capsys):
    for argv, message in [(["--max-per-image", "-1"], "--max-per-image must be at least 0, got -1"),
                          (["--threads", "0"], "--threads must be at least 1, got 0"),
                          (["--limit-images", "0"], "--limit-images must be at least 1, got 0")]:
        assert cli_main(["evaluate", "nowhere", *argv]) == 2
        assert capsys.readouterr().err.strip() == f"napari-inter2former evaluate: error: {message}"


def test_packing_a_missing_folder_leaves_no_file(tmp_path, capsys):
    import pytest

    from napari_inter2former.training.packed_data import main as pack_main

    out = tmp_path / "new" / "train.npz"
    with pytest.raises(SystemExit) as exit_info:
        pack_main([str(tmp_path / "nope"), str(out)])
    assert exit_info.value.code == 2
    assert "nope must contain images/ and labels/" in capsys.readouterr().err
    assert not out.exists()


def test_demo_help_imports_neither_qt_nor_napari():
    """`napari-inter2former demo --help` must work in an install without a Qt binding."""
    code = ("import sys; from napari_inter2former.cli import main\n"
            "try:\n    main(['demo', '--help'])\nexcept SystemExit as e:\n    assert e.code == 0, e.code\n"
            "print(sorted(m for m in ('qtpy', 'napari', 'PyQt6') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "--screenshot" in proc.stdout and proc.stdout.strip().endswith("[]"), proc.stdout


def test_demo_without_a_qt_binding_says_what_to_install(monkeypatch, capsys):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *args: None)
    assert cli_main(["demo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former demo: error: no Qt binding") and 'napari[pyqt6]' in err


def test_evaluate_checks_its_output_place_before_evaluating(tmp_path, capsys):
    from test_training import _write_folder

    _write_folder(tmp_path / "data")
    taken = tmp_path / "a-file"
    taken.write_text("")
    assert cli_main(["evaluate", str(tmp_path / "data"), "--methods", "watershed", "--out", str(taken),
                     "--no-progress"]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(f"napari-inter2former evaluate: error: cannot write the results to {taken}")
    assert "evaluated" not in captured.out  # refused before any object was clicked


def test_evaluate_refuses_a_carry_iou_out_of_range(capsys):
    for value in ("1.5", "-1", "0"):
        assert cli_main(["evaluate", "nowhere", "--carry-iou", value]) == 2
        assert "--carry-iou must be in (0, 1]" in capsys.readouterr().err


def test_evaluate_refuses_colour_label_files(tmp_path, capsys):
    import numpy as np
    import tifffile

    for sub in ("images", "labels"):
        (tmp_path / sub).mkdir()
    labels = np.zeros((40, 40, 3), np.uint16)
    labels[10:20, 10:20] = 1
    tifffile.imwrite(tmp_path / "images" / "rgb.tif", (labels * 200).astype(np.uint8))
    tifffile.imwrite(tmp_path / "labels" / "rgb.tif", labels)
    assert cli_main(["evaluate", str(tmp_path), "--methods", "watershed", "--out", str(tmp_path / "out"),
                     "--no-progress"]) == 2
    assert "an instance map is (H, W)" in capsys.readouterr().err


def test_evaluate_skips_a_constant_image_naming_it_and_keeps_the_rest(tmp_path, capsys):
    import tifffile

    from test_training import _write_folder

    _write_folder(tmp_path / "data")
    blank = tmp_path / "data" / "images" / "syn_0.tif"
    tifffile.imwrite(blank, tifffile.imread(blank) * 0)
    out = tmp_path / "out"
    assert cli_main(["evaluate", str(tmp_path / "data"), "--methods", "watershed", "--max-clicks", "2",
                     "--out", str(out), "--no-plot", "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"skipped {blank}: image is constant" in err
    assert (out / "results.json").is_file()


def test_evaluate_with_only_unusable_images_says_so_and_makes_no_folder(tmp_path, capsys):
    import tifffile

    from test_training import _write_folder

    _write_folder(tmp_path / "data", n_images=1)
    image = tmp_path / "data" / "images" / "syn_0.tif"
    tifffile.imwrite(image, tifffile.imread(image) * 0)
    out = tmp_path / "out"
    assert cli_main(["evaluate", str(tmp_path / "data"), "--methods", "watershed", "--out", str(out),
                     "--no-progress"]) == 2
    assert "error: no usable image in" in capsys.readouterr().err
    assert not out.exists()  # a refused run leaves no empty output folder


def test_evaluate_refuses_a_labels_file_as_data(tmp_path, capsys):
    from test_training import _write_folder

    _write_folder(tmp_path / "data", n_images=1)
    label_file = tmp_path / "data" / "labels" / "syn_0.tif"
    assert cli_main(["evaluate", str(label_file), "--methods", "oracle", "--out", str(tmp_path / "out"),
                     "--no-progress"]) == 2
    assert f"error: {label_file} is not in an images/ folder" in capsys.readouterr().err


def test_evaluate_names_an_empty_tiff(tmp_path, capsys):
    import numpy as np
    import tifffile

    from test_training import _write_folder

    _write_folder(tmp_path / "data", n_images=1)
    image = tmp_path / "data" / "images" / "syn_0.tif"
    tifffile.imwrite(image, np.zeros((0,), np.uint8))
    assert cli_main(["evaluate", str(tmp_path / "data"), "--methods", "oracle", "--out", str(tmp_path / "out"),
                     "--no-progress"]) == 2
    assert f"error: {image}: not a readable image (corrupt or empty TIFF)" in capsys.readouterr().err


def test_packing_a_folder_without_images_names_it_and_leaves_no_file(tmp_path, capsys):
    import pytest

    from napari_inter2former.training.packed_data import main as pack_main

    for sub in ("images", "labels"):
        (tmp_path / "empty" / sub).mkdir(parents=True)
    out = tmp_path / "train.npz"
    with pytest.raises(SystemExit) as exit_info:
        pack_main([str(tmp_path / "empty"), str(out)])
    assert exit_info.value.code == 2
    assert f"error: no usable .tif images in {tmp_path / 'empty'}" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob("*.partial"))
