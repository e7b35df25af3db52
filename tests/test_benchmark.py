"""The benchmark's CLI wiring and its helpers (the timings themselves are not tested)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_inter2former import benchmark, cli


def test_cli_exposes_the_benchmark(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["benchmark", "--help"])
    assert exit_info.value.code == 0
    assert "--threads" in capsys.readouterr().out


def test_corrective_click_goes_into_the_larger_error():
    gt = np.zeros((40, 40), bool)
    gt[5:25, 5:25] = True
    pred = np.zeros_like(gt)
    pred[5:25, 5:12] = True  # misses most of the object: a positive click in the missed part
    y, x, positive = benchmark._corrective_click(gt, pred)
    assert positive and gt[y, x] and not pred[y, x]
    pred = gt.copy()
    pred[30:40, 0:40] = True  # a large false positive band: a negative click inside it
    y, x, positive = benchmark._corrective_click(gt, pred)
    assert not positive and pred[y, x] and not gt[y, x]
    assert benchmark._corrective_click(gt, gt) is None


def test_blob_images_are_reproducible_and_labelled():
    image, labels = benchmark.blob_image(128, 160, seed=3)
    again, _ = benchmark.blob_image(128, 160, seed=3)
    assert image.dtype == np.uint16 and np.array_equal(image, again)
    assert labels.max() > 0 and image[labels > 0].min() > image[labels == 0].max()
    lazy = benchmark.lazy_blob_image(3000, 1024)
    assert lazy.shape == (3000, 3000) and lazy.chunks[0] == (1024, 1024, 952)
    # A chunk is seeded by its position: reading it twice, or via another slice, agrees.
    assert np.array_equal(lazy[1100:1200, 2100:2200].compute(), lazy[1024:2048, 2048:3000].compute()[76:176, 52:152])


def test_report_renders_every_section():
    meta = {"machine": "x", "torch": "t", "threads": 2, "weights": "random", "load": "none"}
    encoder = [{"side": 256, "tile_ms": 10.0, "tile_halo_ms": 20.0}]
    clicks = [{"window": 256, "image": 1024, "first_n": 2, "later_n": 3, "first_p50": 1.0, "first_p95": 2.0,
               "later_p50": 1.0, "later_p95": 2.0, "cold_ms": 5.0, "cold_encode_ms": 4.0, "cold_tiles": 1}]
    ratios = {"window": 256, "tokens": 1024, "boundary_tokens": 40, "dha_hybrid_ms": 1.0, "dha_full_ms": 4.0,
              "dpe_roi_ms": 1.0, "dpe_dense_ms": 2.0, "dlu_box_tokens": 100, "dlu_roi_ms": 1.0,
              "dlu_object_box_tokens": 50, "dlu_object_ms": 0.5, "dlu_dense_ms": 3.0, "decode_fast_ms": 2.0,
              "decode_full_ms": 8.0}
    memory = {"side": 20000, "chunk": 1024, "max_side": 512, "rss_before_mb": 200.0, "rss_after_mb": 300.0,
              "peak_mb": 400.0, "peak_stats_mb": 250.0, "stats_s": 1.0, "click_s": 2.0, "encode_s": 1.5, "tiles": 4, "cache_mb": 56.0}
    text = benchmark.report(meta, encoder, clicks, ratios, memory)
    assert "| 256² | 10 | 20 (384²) |" in text
    assert "| DHA attention (one block) | 1.0 | 4.0 | 4.00 |" in text
    assert "| 200 MB | 300 MB | 250 / 400 MB |" in text


def test_peak_rss_is_this_process_own():
    """VmHWM, unlike ru_maxrss, starts afresh in a spawned child."""
    import subprocess
    import sys

    peak, now = benchmark._peak_rss_mb(), benchmark._rss_mb()
    assert peak >= now > 0
    code = "from napari_inter2former.benchmark import _peak_rss_mb; print(_peak_rss_mb())"
    child = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    ballast = np.ones(200 * 2**20, np.uint8)  # parent grows by 200 MB ...
    again = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert ballast.sum() > 0 and again < child + 100  # ... the child does not inherit it


def test_hybrid_vs_full_ratios_run_for_either_upsampler():
    import torch

    from napari_inter2former.benchmark import bench_ratios
    from napari_inter2former.model import Inter2Former, Inter2FormerConfig

    for dlu_reference in (False, True):
        torch.manual_seed(0)
        model = Inter2Former(Inter2FormerConfig(dlu_reference=dlu_reference)).eval()
        out = bench_ratios(model, 128, 1, 0)
        assert out["tokens"] == 256 and 0 < out["boundary_tokens"] < 256
        assert out["dlu_roi_ms"] > 0 and out["dlu_dense_ms"] > 0 and out["decode_fast_ms"] > 0


@pytest.mark.parametrize("argv, message", [
    (["--threads", "0"], "--threads must be at least 1, got 0"),
    (["--repeats", "0"], "--repeats must be at least 1, got 0"),
    (["--objects", "1"], "--objects must be at least 2, got 1"),
    (["--encoder-sizes", "abc"], "--encoder-sizes takes comma-separated whole numbers"),
    (["--windows", "0"], "--windows: every side must be a multiple of 16"),
    (["--output", "/nonexistent-folder/x.md"], "--output: the folder of /nonexistent-folder/x.md does not exist"),
    (["--output", "/", "--quick", "--skip-memory"], "--output / is a folder: give a file name"),
    (["--seed", "-1", "--quick", "--skip-memory"], "--seed must be at least 0, got -1"),
    (["--policy", "mirror=true"], "--policy: 'mirror' is not a WindowPolicy field"),
    (["--policy", "vertical_mirror=maybe"], "--policy: expected true or false, got 'maybe'"),
])
def test_bad_benchmark_options_are_one_line_before_any_timing(argv, message, capsys):
    from napari_inter2former.cli import main as cli_main

    assert cli_main(["benchmark", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("napari-inter2former benchmark: error: ") and message in err
