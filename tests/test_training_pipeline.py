"""The GPU-oriented training pipeline: packed data, batches from worker processes, pooled
corrective clicks, batched click painting and the time-budgeted schedule."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_inter2former.evaluation.clicker import next_click
from napari_inter2former.model.reference_map import (
    CERTAIN_BG,
    CERTAIN_FG,
    UNKNOWN,
    initial_reference_map,
    paint_click,
    paint_clicks,
)
from napari_inter2former.training.batches import BatchStream, batch_iterator
from napari_inter2former.training.corrective_clicks import CorrectiveClicker
from napari_inter2former.training.dataset import CropSampler, load_folder
from napari_inter2former.training.packed_data import load_packed, pack_folders
from napari_inter2former.training.trainer import (
    TrainConfig,
    Trainer,
    build_model,
    lr_at,
)


def _write_mixed_folder(root, seed=0):
    """One uint8 grey, one uint16 grey and one uint8 colour image with disk objects."""
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    yy, xx = np.mgrid[:80, :96]
    for name, dtype, colour in (("a_grey8", np.uint8, False), ("b_grey16", np.uint16, False), ("c_rgb", np.uint8, True)):
        labels = np.zeros((80, 96), np.uint16)
        for k in range(1, 4):
            cy, cx, r = rng.integers(15, 65), rng.integers(15, 80), rng.integers(6, 10)
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
        top = 200 if dtype == np.uint8 else 40000
        image = (labels > 0) * top * 0.6 + rng.normal(top * 0.2, top * 0.05, labels.shape)
        image = image.clip(0, top).astype(dtype)
        if colour:
            image = np.stack([image, image // 2, 255 - image], -1).astype(np.uint8)
        tifffile.imwrite(root / "images" / f"{name}.tif", image)
        tifffile.imwrite(root / "labels" / f"{name}.tif", labels)


def test_packed_data_loads_like_the_folder(tmp_path):
    _write_mixed_folder(tmp_path / "data")
    assert pack_folders([tmp_path / "data"], tmp_path / "data.npz") == 3
    direct = load_folder(tmp_path / "data")
    packed = load_folder(tmp_path / "data.npz")  # load_folder dispatches on the suffix
    assert [im.name for im in packed] == [im.name for im in direct]
    for a, b in zip(direct, packed):
        assert np.array_equal(a.planes, b.planes), a.name
        assert np.array_equal(a.labels, b.labels), a.name
        assert a.objects == b.objects and a.colour == b.colour, a.name
    assert [im.colour for im in packed] == [False, False, True]


def test_packed_loader_rejects_other_npz(tmp_path):
    np.savez(tmp_path / "other.npz", x=np.zeros(3))
    with pytest.raises(ValueError, match="not a packed training file"):
        load_packed(tmp_path / "other.npz")


def test_batched_painting_equals_one_click_at_a_time():
    ref = initial_reference_map(24, 30, (4,))
    ref[1, 5:9, 5:9] = 3
    ys, xs = torch.tensor([0, 12, -1, 23]), torch.tensor([0, 15, 4, 29])
    positive = torch.tensor([True, False, True, True])
    expected = ref.clone()
    for i in range(4):
        if ys[i] >= 0:
            paint_click(expected[i], int(ys[i]), int(xs[i]), bool(positive[i]), 3)
    got = paint_clicks(ref, ys, xs, positive, 3)
    assert torch.equal(got, expected)
    assert (got[2] == UNKNOWN).all()  # y = -1: no click
    assert got[0, 0, 0] == CERTAIN_FG and got[1, 12, 15] == CERTAIN_BG


def test_pooled_clicks_equal_serial_clicks():
    rng = np.random.default_rng(3)
    targets = np.zeros((7, 40, 40), bool)
    targets[:, 8:30, 10:32] = True
    preds = rng.random((7, 40, 40)) > 0.6
    preds[3] = targets[3]  # nothing left to correct
    serial = CorrectiveClicker(0).clicks(targets, preds)
    pool = CorrectiveClicker(3)
    try:
        pooled = pool.clicks(targets, preds)
    finally:
        pool.close()
    for a, b in zip(serial, pooled):
        assert torch.equal(a, b)
    for i in range(7):
        click = next_click(targets[i], preds[i])
        expected = (-1, -1, False) if click is None else tuple(click)
        assert (int(serial[0][i]), int(serial[1][i]), bool(serial[2][i])) == expected
    assert serial[0][3] == -1


def test_worker_batches_differ_and_carry_valid_prompts(tmp_path):
    _write_mixed_folder(tmp_path / "data")
    sampler = CropSampler(load_folder(tmp_path / "data"), crop=48, seed=0)
    stream = BatchStream(sampler, batch=3, radius=2, mask_seed_prob=0.5)
    batches = batch_iterator(stream, workers=2)
    seen = [next(batches) for _ in range(4)]
    images = torch.stack([b[0] for b in seen])
    assert images.shape == (4, 3, 3, 48, 48)
    # two workers with streams of their own: no two batches alike
    flat = images.flatten(1)
    assert all(not torch.equal(flat[i], flat[j]) for i in range(4) for j in range(i + 1, 4))
    for _, targets, refs, others in seen:
        assert refs.dtype == torch.uint8 and refs.shape == (3, 48, 48) and int(refs.max()) <= 4
        assert others.shape == targets.shape and not (others & targets).any()
        # a positive click disk always lies on the object
        assert not ((refs == CERTAIN_FG) & ~targets[:, 0]).any()


def test_time_budget_stops_the_run_and_decays_the_rate(tmp_path):
    cfg = TrainConfig(lr=1e-3, warmup=2, time_budget=100.0, steps=10)
    assert lr_at(0, cfg, 0.0) == pytest.approx(5e-4)  # warm-up by steps
    assert lr_at(50, cfg, 50.0) == pytest.approx(1e-3 * 0.5**0.9)  # then by elapsed time
    assert lr_at(50, cfg, 100.0) == 0.0

    _write_mixed_folder(tmp_path / "data")
    sampler = CropSampler(load_folder(tmp_path / "data"), crop=32, seed=0)
    cfg = TrainConfig(batch=2, crop=32, max_rounds=1, threads=1, time_budget=3.0, snapshots=1, steps=10**6,
                      checkpoint_every=10**6, warmup=1)
    trainer = Trainer(build_model(imagenet_init=False), sampler, cfg, tmp_path / "run")
    trainer.fit(progress=False)
    assert 0 < trainer.step < 10**6
    assert (tmp_path / "run" / "last.safetensors").exists()
    assert len(list((tmp_path / "run").glob("snapshot-*.safetensors"))) == 1


def test_extend_model_keeps_trained_tensors_and_refuses_reshaping_changes():
    from napari_inter2former.training.trainer import extend_model

    torch.manual_seed(0)
    model = build_model(imagenet_init=False)
    extended = extend_model(model, dlu_reference=True)
    assert extended.config.dlu_reference and extended.training == model.training
    trained = model.state_dict()
    for key, value in extended.state_dict().items():
        if ".ref_proj." in key:
            assert key not in trained and not value.any()  # new, zero-initialised
        else:
            assert torch.equal(value, trained[key]), key
    with pytest.raises(ValueError, match="do not only add parameters"):
        extend_model(model, dim=32)
