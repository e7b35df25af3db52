"""End-to-end tests of the evaluation tool on tiny synthetic folders written to tmp_path."""

import json

import numpy as np
import pytest
import tifffile

from napari_inter2former.cli import main as cli_main
from napari_inter2former.evaluation import (
    evaluate,
    evaluate_predictor,
    make_method,
    write_reports,
)
from napari_inter2former.evaluation.runner import run_carry, run_object


def blobs_image(seed, shape=(64, 64), centres=((16, 16, 7), (40, 44, 9), (50, 12, 5))):
    """Bright disks on a noisy dark background, and their instance labels."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    labels = np.zeros(shape, np.uint16)
    for k, (cy, cx, r) in enumerate(centres, start=1):
        labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
    image = np.clip(30 + 150 * (labels > 0) + rng.normal(0, 8, shape), 0, 255).astype(np.uint8)
    return image, labels


def write_pair(root, name, image, labels):
    for sub, arr in (("images", image), ("labels", labels)):
        (root / sub).mkdir(parents=True, exist_ok=True)
        tifffile.imwrite(root / sub / f"{name}.tif", arr, photometric="minisblack")


@pytest.fixture
def folder(tmp_path):
    root = tmp_path / "data"
    write_pair(root, "aa_one", *blobs_image(0))
    write_pair(root, "bb_two", *blobs_image(1, centres=((20, 20, 8), (44, 40, 10))))
    return root


def test_oracle_and_empty_bound_the_metrics(folder, tmp_path):
    res = evaluate(folder, ["oracle", "empty"], max_per_image=2, min_area=10, progress=False)
    assert res["data"]["subsets"]["aa"]["evaluated"] == 2 and res["data"]["subsets"]["aa"]["eligible"] == 3
    assert res["data"]["subsets"]["bb"]["evaluated"] == 2
    oracle, empty = res["methods"]["oracle"]["summary"], res["methods"]["empty"]["summary"]
    assert oracle["overall"]["objects"] == 4
    for key in ("noc85", "noc90", "noc95"):
        assert oracle["overall"][key] == 1.0 and empty["overall"][key] == 20.0
        assert all(s[key] == 1.0 for s in oracle["subsets"].values())
    assert oracle["overall"]["nof90"] == 0 and oracle["overall"]["miou"] == [1.0] * 20
    assert empty["overall"]["nof90"] == 4 and empty["overall"]["nof95"] == 4
    assert empty["subsets"]["aa"]["nof90"] == 2 and empty["overall"]["miou"][19] == 0.0
    # Every object carries its click-by-click record; the same clicks for the first click.
    objs = res["methods"]["empty"]["objects"]
    assert all(len(o["ious"]) == 20 and len(o["clicks"]) == 20 for o in objs)
    assert [o["clicks"][0] for o in objs] == [o["clicks"][0] for o in res["methods"]["oracle"]["objects"]]
    paths = write_reports(res, tmp_path / "out")
    data = json.loads(paths["json"].read_text())
    assert data["methods"]["oracle"]["summary"]["overall"]["noc90"] == 1.0
    table = paths["markdown"].read_text()
    assert "| oracle | aa | 2 | 1.00 |" in table and "| empty | **all** | 4 | 20.00 |" in table
    assert paths["plot"].stat().st_size > 1000


def test_classical_baselines_segment_easy_blobs(folder):
    res = evaluate(folder, ["watershed", "random_walker"], max_per_image=None, min_area=10, max_clicks=5,
                   progress=False)
    for name in ("watershed", "random_walker"):
        overall = res["methods"][name]["summary"]["overall"]
        assert overall["objects"] == 5
        assert overall["noc85"] <= 2.0, (name, overall)
        assert overall["miou"][-1] > 0.85
        assert overall["latency_p95_ms"] < 1000


def test_carry_through_a_volume(tmp_path):
    zz, yy, xx = np.mgrid[:7, :40, :40]
    labels = (((zz - 3) * 3) ** 2 + (yy - 20) ** 2 + (xx - 18) ** 2 <= 12 ** 2).astype(np.uint16)
    image = (40 + 160 * labels + np.random.default_rng(0).normal(0, 5, labels.shape)).clip(0, 255).astype(np.uint8)
    write_pair(tmp_path, "vol_a", image, labels)
    res = evaluate(tmp_path, ["oracle", "empty", "watershed"], max_per_image=1, min_area=10,
                   volume_mode="carry", max_clicks=4, progress=False)
    oracle = res["methods"]["oracle"]["carry"]
    assert oracle["objects"] == 1 and oracle["slices"] == int(labels.any(axis=(1, 2)).sum())
    assert oracle["clicks_first_slice"] == 1 and oracle["clicks_per_carried_slice"] == 0
    assert oracle["carried_slices_without_clicks"] == 1.0
    empty = res["methods"]["empty"]["carry"]
    assert empty["clicks_per_slice"] == 4 and empty["slices_failed"] == empty["slices"]
    ws = res["methods"]["watershed"]["carry"]
    assert ws["mean_final_iou"] > 0.8 and ws["clicks_per_carried_slice"] < 1.0
    start = res["methods"]["oracle"]["carry_objects"][0]["start_z"]
    assert start == 3  # the largest slice of the ball


def test_slices_of_a_volume_are_evaluated_as_images(tmp_path):
    image, labels = blobs_image(2)
    write_pair(tmp_path, "vol_b", np.stack([image] * 4), np.stack([labels] * 4))
    res = evaluate(tmp_path, ["oracle"], max_per_image=1, min_area=10, volume_mode="slices", slice_step=2,
                   progress=False)
    objs = res["methods"]["oracle"]["objects"]
    assert [o["z"] for o in objs] == [0, 2] and objs[0]["image"] == "vol_b_z000"


def test_cli_writes_reports_and_reports_bad_input(folder, tmp_path, capsys):
    out = tmp_path / "cli"
    code = cli_main(["evaluate", str(folder), "--methods", "oracle", "empty", "--max-per-image", "1",
                     "--min-area", "10", "--max-clicks", "3", "--out", str(out), "--no-progress", "--no-plot"])
    assert code == 0
    assert (out / "results.json").is_file() and (out / "results.md").is_file() and not (out / "miou.png").exists()
    assert "| oracle |" in capsys.readouterr().out
    assert cli_main(["evaluate", str(tmp_path / "missing"), "--methods", "oracle", "--no-progress"]) == 2
    assert "not found" in capsys.readouterr().err


def test_inter2former_random_init_smoke(folder):
    from napari_inter2former.session import Predictor

    predictor = Predictor(weights=None)
    method = make_method("inter2former", predictor=predictor)
    image, labels = blobs_image(0)
    method.set_image(image)
    traj = run_object(method, labels == 2, max_clicks=3)
    assert len(traj.ious) == 3 and all(0.0 <= v <= 1.0 for v in traj.ious)
    assert traj.pred.shape == image.shape and traj.pred.dtype == bool
    assert traj.encode_s > 0 and len(traj.latency_s) == 3  # the first click encoded the image
    slices = run_carry(method, np.stack([image] * 2), np.stack([labels] * 2), 2, 0, target_iou=0.5, max_clicks=2)
    assert [s.z for s in slices] == [0, 1]
    quick = evaluate_predictor(predictor, folder, max_per_image=1, limit_images=1, max_clicks=6)
    assert quick["overall"]["objects"] == 1 and set(quick["subsets"]) == {"aa"}
    assert 1 <= quick["overall"]["noc90"] <= 6 and 0.0 <= quick["overall"]["miou5"] <= 1.0


def test_cli_reports_missing_weights(folder, tmp_path, capsys):
    code = cli_main(["evaluate", str(folder), "--methods", "inter2former", "--weights", str(tmp_path / "none.safetensors"),
                     "--no-progress", "--out", str(tmp_path / "w")])
    assert code == 2
    assert "error" in capsys.readouterr().err


def test_cli_max_zoom_reaches_the_predictor(folder, tmp_path):
    out = tmp_path / "zoom"
    code = cli_main(["evaluate", str(folder), "--methods", "inter2former", "--random-init", "--max-zoom", "1",
                     "--max-per-image", "1", "--limit-images", "1", "--max-clicks", "2", "--out", str(out),
                     "--no-progress", "--no-plot"])
    assert code == 0
    params = json.loads((out / "results.json").read_text())["methods"]["inter2former"]["params"]
    assert params["max_zoom"] == 1.0 and params["weights"] == "random-init"
    assert params["shrink"] is True


def test_cli_no_shrink_reaches_the_predictor(folder, tmp_path):
    out = tmp_path / "noshrink"
    code = cli_main(["evaluate", str(folder), "--methods", "inter2former", "--random-init", "--no-shrink",
                     "--max-per-image", "1", "--limit-images", "1", "--max-clicks", "2", "--out", str(out),
                     "--no-progress", "--no-plot"])
    assert code == 0
    params = json.loads((out / "results.json").read_text())["methods"]["inter2former"]["params"]
    assert params["shrink"] is False and params["max_zoom"] == 2.0
