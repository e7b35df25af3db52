"""Unit tests of the evaluation tool: click simulator, metrics, object choice, data checks."""

import numpy as np
import pytest
import tifffile
from scipy.ndimage import distance_transform_edt

from napari_inter2former.evaluation import (
    DataError,
    accuracy_summary,
    clicks_to_reach,
    first_click,
    iou,
    next_click,
    pick_targets,
)
from napari_inter2former.evaluation.clicker import border_distance, deepest_point
from napari_inter2former.evaluation.data import (
    Pair,
    find_pairs,
    limit_pairs,
    load_pair,
    subset_of,
)
from napari_inter2former.evaluation.methods import Method
from napari_inter2former.evaluation.metrics import pad_trajectory
from napari_inter2former.evaluation.runner import run_object


def rect(shape, y0, y1, x0, x1):
    m = np.zeros(shape, bool)
    m[y0:y1, x0:x1] = True
    return m


# ----- click simulator
def test_first_click_is_deepest_point_with_row_major_tie_break():
    # 7 x 9 rectangle: distance 4 along the middle row for columns 6, 7, 8 -> the first one.
    gt = rect((20, 20), 5, 12, 3, 12)
    click = first_click(gt)
    assert (click.y, click.x, click.positive) == (8, 6, True)


def test_first_click_of_a_disk_is_its_centre():
    yy, xx = np.mgrid[:41, :41]
    gt = (yy - 23) ** 2 + (xx - 17) ** 2 <= 8 ** 2
    assert tuple(first_click(gt)) == (23, 17, True)


def test_image_border_counts_as_boundary():
    gt = rect((30, 30), 0, 10, 0, 10)  # square in the top-left corner
    click = first_click(gt)
    assert (click.y, click.x) == (4, 4)
    # Without the border padding the corner pixel would look deepest: the rule matters.
    plain = distance_transform_edt(gt)
    assert np.unravel_index(np.argmax(plain), gt.shape) == (0, 0)
    assert border_distance(gt)[0, 0] == 1.0


def test_positive_click_when_false_negative_dominates():
    gt = rect((40, 40), 5, 35, 5, 35)
    pred = gt.copy()
    pred[5:35, 20:35] = False  # a 30 x 15 missing part
    pred[0:2, 0:2] = True  # a tiny false positive
    click = next_click(gt, pred)
    assert click.positive
    assert gt[click.y, click.x] and not pred[click.y, click.x]
    assert (click.y, click.x) == (12, 27)  # deepest FN pixel (distance 8, first row-major)


def test_negative_click_when_false_positive_dominates():
    gt = rect((40, 40), 5, 15, 5, 15)
    pred = gt | rect((40, 40), 20, 36, 20, 36)
    click = next_click(gt, pred)
    assert not click.positive
    assert pred[click.y, click.x] and not gt[click.y, click.x]
    assert (click.y, click.x) == (27, 27)


def test_equal_error_depths_give_a_negative_click():
    gt = rect((30, 30), 2, 8, 2, 8)
    pred = rect((30, 30), 20, 26, 20, 26)  # FN and FP are identical 6x6 squares
    click = next_click(gt, pred)
    assert not click.positive and (click.y, click.x) == (22, 22)



def test_a_clicked_pixel_is_never_clicked_again():
    # RITM's not_clicked_map: a method that ignores a click is shown the next error pixel.
    gt = rect((30, 30), 5, 25, 5, 25)
    pred = np.zeros_like(gt)
    first = next_click(gt, pred)
    again = next_click(gt, pred, [(first.y, first.x, True)])
    assert again.positive and (again.y, again.x) != (first.y, first.x)
    # the distances stay those of the whole error region: the runner-up is a neighbour of the centre
    assert abs(again.y - first.y) + abs(again.x - first.x) <= 2
    one_px = gt.copy()
    one_px[10, 10] = False  # the only error, already clicked: no next click
    assert next_click(gt, one_px, [(10, 10, True)]) is None
    assert next_click(gt, one_px) == (10, 10, True)


def test_a_method_that_ignores_clicks_gets_distinct_clicks():
    class Stubborn(Method):
        name = "stubborn"

        def set_image(self, image):
            pass

        def click(self, y, x, positive):
            return np.zeros(self.shape, bool)

        def start_object(self):
            pass

        def set_target(self, gt):
            self.shape = gt.shape

    traj = run_object(Stubborn(), rect((40, 40), 5, 35, 5, 35), max_clicks=20)
    assert len(traj.clicks) == 20 and len({(y, x) for y, x, _ in traj.clicks}) == 20



def test_stored_ious_are_not_rounded_onto_a_threshold():
    # 0.899999667 was stored as 0.9 and counted as reaching NoC@90.
    from napari_inter2former.evaluation.runner import Trajectory

    traj = Trajectory(clicks=[(1, 1, True)] * 3, ious=[0.5, 0.899999667, 0.899999667], latency_s=[0.0] * 3)
    stored = traj.to_json()["ious"]
    summary = accuracy_summary([stored], 3)
    assert summary["noc90"] == 3 and summary["nof90"] == 1


def test_no_click_when_prediction_is_perfect_and_shape_checked():
    gt = rect((10, 10), 2, 5, 2, 5)
    assert next_click(gt, gt.copy()) is None
    with pytest.raises(ValueError):
        next_click(gt, np.zeros((10, 11), bool))
    with pytest.raises(ValueError):
        first_click(np.zeros((10, 10), bool))


def test_cropped_distance_matches_full_image_transform():
    rng = np.random.default_rng(3)
    for _ in range(20):
        region = rng.random((37, 29)) > 0.55
        region[rng.integers(0, 37), :] = True
        full = border_distance(region)
        dist, y, x = deepest_point(region)
        assert dist == full.max()
        assert (y, x) == np.unravel_index(int(np.argmax(full)), full.shape)


# ----- metrics
def test_noc_arithmetic():
    ious = [0.5, 0.86, 0.91, 0.96]
    assert clicks_to_reach(ious, 0.85, 20) == 2
    assert clicks_to_reach(ious, 0.90, 20) == 3
    assert clicks_to_reach(ious, 0.95, 20) == 4
    assert clicks_to_reach(ious, 0.97, 20) == 20
    assert clicks_to_reach([0.1] * 5 + [0.99], 0.9, 5) == 5  # reached only after the budget


def test_accuracy_summary_noc_nof_miou():
    a = [0.5, 0.92, 0.96]  # stopped early: padded with 0.96
    b = [0.2, 0.4, 0.6]
    s = accuracy_summary([a, b], max_clicks=4)
    assert s["objects"] == 2
    assert s["noc85"] == pytest.approx((2 + 4) / 2)
    assert s["noc90"] == pytest.approx((2 + 4) / 2)
    assert s["noc95"] == pytest.approx((3 + 4) / 2)
    assert (s["nof90"], s["nof95"]) == (1, 1)
    assert s["miou"] == pytest.approx([0.35, 0.66, 0.78, 0.78])
    assert pad_trajectory([0.3], 3) == [0.3, 0.3, 0.3]
    assert accuracy_summary([], 3)["noc90"] is None


def test_iou():
    a = rect((10, 10), 0, 4, 0, 4)
    b = rect((10, 10), 0, 4, 2, 6)
    assert iou(a, b) == pytest.approx(8 / 24)
    assert iou(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0


# ----- object choice
def make_labels():
    labels = np.zeros((60, 60), np.uint16)
    for k in range(1, 11):
        y, x = divmod(k - 1, 4)
        labels[y * 15 : y * 15 + 2 + k, x * 15 : x * 15 + 2 + k] = k  # areas (2+k)^2; id 1 touches the border
    return labels


def test_pick_targets_deterministic_limited_and_filtered():
    labels = make_labels()
    a = pick_targets(labels, "img_1", max_per_image=4, min_area=20, seed=0)
    assert a == pick_targets(labels, "img_1", max_per_image=4, min_area=20, seed=0)
    assert len(a.ids) == 4 and list(a.ids) == sorted(a.ids)
    assert a.labelled == 10 and a.eligible == 8  # ids 1, 2 have 9 and 16 pixels
    assert all(labels[labels == i].size >= 20 for i in a.ids)
    assert a.areas == tuple(int((labels == i).sum()) for i in a.ids)
    seeds = {pick_targets(labels, "img_1", 4, 20, seed=s).ids for s in range(6)}
    assert len(seeds) > 1  # the seed matters
    everything = pick_targets(labels, "img_1", max_per_image=None, min_area=0)
    assert everything.ids == tuple(range(1, 11))  # border-touching id 1 included


# ----- data
def write_pair(root, name, image, labels):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(root / "images" / f"{name}.tif", image)
    tifffile.imwrite(root / "labels" / f"{name}.tif", labels)


def test_data_errors_are_clear(tmp_path):
    with pytest.raises(DataError, match="not found"):
        find_pairs(tmp_path / "nope")
    with pytest.raises(DataError, match="images/ and labels/"):
        find_pairs(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    with pytest.raises(DataError, match="no .tif images"):
        find_pairs(tmp_path)
    tifffile.imwrite(tmp_path / "images" / "a_1.tif", np.zeros((16, 16), np.uint8))
    with pytest.raises(DataError, match="no label file"):
        find_pairs(tmp_path)
    tifffile.imwrite(tmp_path / "labels" / "a_1.tif", np.zeros((16, 17), np.uint16))
    (pair,) = find_pairs(tmp_path)
    with pytest.raises(DataError, match="shape"):
        load_pair(pair)


def test_single_file_and_subsets(tmp_path):
    write_pair(tmp_path, "dsb_x", np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16), np.uint16))
    (pair,) = find_pairs(tmp_path / "images" / "dsb_x.tif")
    assert pair.subset == "dsb" and not load_pair(pair).volume
    assert subset_of("usiigaci_set13.tif") == "usiigaci" and subset_of("plain") == "plain"


def test_limit_pairs_spreads_over_subsets():
    pairs = [Pair(n, None, None) for n in ["a_1", "a_2", "a_3", "a_4", "b_1", "b_2"]]
    assert [p.name for p in limit_pairs(pairs, 3)] == ["a_1", "a_2", "b_1"]
    assert len(limit_pairs(pairs, None)) == 6
