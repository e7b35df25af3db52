"""The weights shipped inside the package load and segment a real nucleus from val/."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile

from napari_inter2former.evaluation.clicker import next_click
from napari_inter2former.model import load_model
from napari_inter2former.session import Predictor, default_weights_path

VAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "val"
# A fluorescence nucleus image from the DSB validation split.
IMAGE = "dsb_0280fa8f60f6bcae"


def test_shipped_weights_exist_and_load():
    path = default_weights_path()
    assert path.is_file(), f"shipped weights missing at {path}"
    assert path.stat().st_size < 30 * 2**20
    model = load_model(path)
    assert not model.training


@pytest.mark.skipif(not VAL.is_dir(), reason="../shared/data/val is not beside the repository")
def test_shipped_weights_segment_a_real_nucleus():
    image = tifffile.imread(VAL / "images" / f"{IMAGE}.tif")
    labels = tifffile.imread(VAL / "labels" / f"{IMAGE}.tif")
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    target = labels == ids[np.argmax(areas)]  # the largest nucleus: a typical, fully visible one
    predictor = Predictor()
    predictor.set_image(image)
    session = predictor.new_session()
    pred = np.zeros_like(target)
    best = 0.0
    for _ in range(3):
        y, x, positive = next_click(target, pred)
        pred = session.add_click(y, x, positive).to_full(target.shape)
        best = max(best, (pred & target).sum() / (pred | target).sum())
    assert best >= 0.8, f"IoU {best:.3f} after 3 clicks"


@pytest.mark.skipif(not VAL.is_dir(), reason="../shared/data/val is not beside the repository")
def test_small_nuclei_do_not_vanish_under_corrective_clicks():
    """Regression: decoded at native resolution, a 26 px nucleus of this image vanished
    (IoU 0.79 -> 0.04) after a negative click beside the positive one. Magnified, the three
    smallest nuclei (21-57 px) stay found through 5 simulated clicks."""
    image = tifffile.imread(VAL / "images" / f"{IMAGE}.tif")
    labels = tifffile.imread(VAL / "labels" / f"{IMAGE}.tif")
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    smallest = [i for i, a in sorted(zip(ids, areas), key=lambda p: p[1]) if a >= 20][:3]
    predictor = Predictor()
    predictor.set_image(image)
    for object_id in smallest:
        target = labels == object_id
        session = predictor.new_session()
        pred = np.zeros_like(target)
        ious = []
        for _ in range(5):
            y, x, positive = next_click(target, pred)
            result = session.add_click(y, x, positive)
            pred = result.to_full(target.shape)
            ious.append((pred & target).sum() / (pred | target).sum())
        assert result.extra["zoom"] > 1.0, "a small nucleus should be decoded magnified"
        assert min(ious) >= 0.5 and max(ious) >= 0.75, f"label {object_id}: IoUs {np.round(ious, 2)}"


def test_contrast_limits_rescue_an_image_with_bright_debris():
    # usage.md, "Intensities": saturated specks on 0.5 % of the plane become the 99.8th
    # percentile and the nuclei read as nearly black. A range that shows the nuclei (what a user
    # sets as contrast limits) gives the model back its input.
    from napari_inter2former._sample_data import nuclei_2d

    clean = nuclei_2d()[0][0].astype(np.float32) * 20 + 100
    rng = np.random.default_rng(0)
    debris = clean.copy()
    for y, x in rng.integers(0, clean.shape[0] - 3, (int(0.005 * clean.size / 9), 2)):
        debris[y:y + 3, x:x + 3] = 60000
    debris = debris.astype(np.uint16)
    predictor = Predictor()
    predictor.set_image(clean)
    reference = predictor.new_session().add_click(120, 85).to_full(clean.shape)
    predictor.set_image(debris)
    lost = predictor.new_session().add_click(120, 85).to_full(clean.shape)
    predictor.set_image(debris, intensity_range=(float(clean.min()), float(clean.max())))
    rescued = predictor.new_session().add_click(120, 85).to_full(clean.shape)

    def iou(a, b):
        return (a & b).sum() / (a | b).sum()

    assert reference.sum() > 500
    assert iou(lost, reference) < 0.5 and iou(rescued, reference) > 0.9, (lost.sum(), rescued.sum(), reference.sum())
