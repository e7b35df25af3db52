"""The command line turns bad input into one line on stderr and exit status 2, not a traceback."""

from napari_inter2former.cli import main as cli_main


def test_train_on_a_missing_folder(tmp_path, capsys):
    assert cli_main(["train", "--data", str(tmp_path / "missing"), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former train: error: ")
    assert "must contain images/ and labels/" in err and "Traceback" not in err


def test_benchmark_with_corrupt_weights(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x00" * 100)
    assert cli_main(["benchmark", "--weights", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former benchmark: error: ")
    assert "corrupt or truncated" in err
