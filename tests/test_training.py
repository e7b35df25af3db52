"""Training smoke test: a few steps on tiny crops lower the loss on the batch they train on."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from napari_inter2former.model.reference_map import initial_reference_map, paint_click
from napari_inter2former.session.clicks import Click
from napari_inter2former.session.object_session import hold_clicked_pixels
from napari_inter2former.training.click_simulation import deepest_point, next_click
from napari_inter2former.training.dataset import (
    CropSampler,
    labelled_image,
    load_folder,
)
from napari_inter2former.training.losses import normalized_focal_loss, soft_iou_loss
from napari_inter2former.training.trainer import (
    TrainConfig,
    Trainer,
    build_model,
    hold_clicked_pixels_batch,
    sample_rounds,
)


def _write_folder(root, n_images=2, size=96, seed=0):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    yy, xx = np.mgrid[:size, :size]
    for i in range(n_images):
        labels = np.zeros((size, size), np.uint16)
        for k in range(1, 4):
            cy, cx, r = rng.integers(20, size - 20), rng.integers(20, size - 20), rng.integers(7, 12)
            labels[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = k
        image = (labels > 0) * 150 + rng.normal(40, 10, labels.shape)
        tifffile.imwrite(root / "images" / f"syn_{i}.tif", image.clip(0, 255).astype(np.uint8))
        tifffile.imwrite(root / "labels" / f"syn_{i}.tif", labels)


def _fixed_loss(model, images, targets):
    """Loss with the first click at the deepest point and no extra rounds: deterministic."""
    model.train()
    ref = initial_reference_map(*images.shape[-2:], (images.shape[0],))
    for i in range(images.shape[0]):
        _, y, x = deepest_point(targets[i, 0].numpy())
        paint_click(ref[i], y, x, True, model.config.click_radius)
    with torch.no_grad():
        out = model.decode(model.encode(images), ref, fast=False)
    return float(normalized_focal_loss(out.logits, targets))


def test_loss_decreases_on_a_tiny_batch(tmp_path):
    torch.manual_seed(0)
    _write_folder(tmp_path)
    sampler = CropSampler(load_folder(tmp_path), crop=64, seed=0)
    batch = sampler.batch(4)
    images, targets, _ = batch
    sampler.batch = lambda size: batch  # train on one fixed batch
    cfg = TrainConfig(steps=25, batch=4, crop=64, lr=2e-3, warmup=1, max_rounds=1, threads=1, frozen_blocks=0)
    trainer = Trainer(build_model(imagenet_init=False), sampler, cfg, tmp_path / "run")
    before = _fixed_loss(trainer.model, images, targets)
    for _ in range(cfg.steps):
        stats = trainer.train_step()
    after = _fixed_loss(trainer.model, images, targets)
    assert np.isfinite(stats["loss"])
    assert after < 0.7 * before, (before, after)


def test_soft_iou_loss_tracks_overlap_and_pulls_probabilities_toward_the_target():
    target = torch.zeros(2, 1, 16, 16, dtype=torch.bool)
    target[:, :, 4:12, 4:12] = True
    confident = torch.where(target, 20.0, -20.0)
    assert float(soft_iou_loss(confident, target)) < 1e-3
    assert float(soft_iou_loss(-confident, target)) > 0.99
    half = confident.clone()
    half[:, :, 4:8, 4:12] = -20.0  # half of the object missed
    assert abs(float(soft_iou_loss(half, target)) - 0.5) < 0.01
    logits = torch.zeros(2, 1, 16, 16, requires_grad=True)
    soft_iou_loss(logits, target).backward()
    # Lowering the loss raises object logits and lowers background ones.
    assert (logits.grad[target] < 0).all() and (logits.grad[~target] > 0).all()


def _one_step_per_value(tmp_path, option: str, values) -> tuple[tuple, list[dict], TrainConfig]:
    """(batch, step stats per value, config): the same random model and fixed batch, one
    step at learning rate 0 and no corrective rounds, with TrainConfig.<option> at each value."""
    torch.manual_seed(0)
    _write_folder(tmp_path)
    sampler = CropSampler(load_folder(tmp_path), crop=64, seed=0)
    batch = sampler.batch(2)
    sampler.batch = lambda size: batch
    stats = []
    for value in values:
        torch.manual_seed(0)
        cfg = TrainConfig(steps=1, batch=2, crop=64, lr=0.0, warmup=1, max_rounds=0, threads=1, frozen_blocks=0,
                          **{option: value})
        trainer = Trainer(build_model(imagenet_init=False), sampler, cfg, tmp_path / f"run{value}")
        stats.append(trainer.train_step())
    return batch, stats, cfg


def test_iou_weight_adds_the_soft_iou_term(tmp_path):
    _, (plain, with_iou), cfg = _one_step_per_value(tmp_path, "iou_weight", (0.0, 1.0))
    assert abs(plain["full"] - with_iou["full"]) < 1e-6  # same model, same batch
    def extra(stats):  # the loss beyond focal (full + coarse) and commitment terms
        return stats["loss"] - (stats["full"] + cfg.coarse_weight * stats["coarse"] + stats["commit"])

    assert abs(extra(plain)) < 1e-5, extra(plain)
    assert 0.05 < extra(with_iou) <= 1.0, extra(with_iou)


def test_checkpoint_resume_restores_step_and_weights(tmp_path):
    _write_folder(tmp_path)
    sampler = CropSampler(load_folder(tmp_path), crop=64, seed=0)
    cfg = TrainConfig(steps=2, batch=2, crop=64, max_rounds=0, threads=1)
    trainer = Trainer(build_model(imagenet_init=False), sampler, cfg, tmp_path / "run")
    trainer.train_step()
    trainer.save_checkpoint()
    again = Trainer(build_model(imagenet_init=False, seed=1), sampler, cfg, tmp_path / "run")
    assert again.resume()
    assert again.step == 1
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, again.model.state_dict()[key]), key


def test_round_distribution_follows_geometric_weights():
    cfg = TrainConfig(max_rounds=20)
    rng = np.random.default_rng(0)
    rounds = np.array([sample_rounds(rng, cfg) for _ in range(4000)])
    # P(0) = 0.4 and P(1) = 0.24 for P(k) ~ 0.6**k
    assert abs((rounds == 0).mean() - 0.4) < 0.03
    assert abs((rounds == 1).mean() - 0.24) < 0.03


def test_next_click_targets_the_larger_error():
    gt = np.zeros((40, 40), bool)
    gt[5:35, 5:35] = True
    pred = np.zeros_like(gt)
    pred[5:35, 5:15] = True  # a large false-negative band remains
    y, x, positive = next_click(gt, pred)
    assert positive and gt[y, x] and not pred[y, x]
    assert next_click(gt, gt.copy()) is None


def test_hold_clicked_pixels_batch_matches_the_session_rule():
    pred = torch.zeros(2, 8, 8, dtype=torch.bool)
    pred[1, 2:6, 2:6] = True
    rounds = [
        (torch.tensor([1, 3]), torch.tensor([1, 3]), torch.tensor([True, False])),
        (torch.tensor([-1, 3]), torch.tensor([0, 3]), torch.tensor([True, True])),  # map 0: no click
    ]
    held = hold_clicked_pixels_batch(pred, rounds)
    assert not pred[0, 1, 1]  # the input is left alone
    for b in range(2):
        clicks = [Click(int(ys[b]), int(xs[b]), bool(pos[b])) for ys, xs, pos in rounds if ys[b] >= 0]
        expected = hold_clicked_pixels(pred[b].numpy().copy(), clicks, (0, 8, 0, 8))
        assert np.array_equal(held[b].numpy(), expected)
    assert held[0, 1, 1] and held[1, 3, 3]  # later click on (3, 3) in map 1 wins
    assert int(held[0].sum()) == 1 and int(held[1].sum()) == 16


def test_hold_clicked_flag_applies_the_rule_in_every_corrective_round(tmp_path, monkeypatch):
    import napari_inter2former.training.trainer as trainer_module

    _write_folder(tmp_path)
    sampler = CropSampler(load_folder(tmp_path), crop=64, seed=0)
    calls = []
    real = trainer_module.hold_clicked_pixels_batch

    def counting(pred, clicks):
        calls.append(len(clicks))
        return real(pred, clicks)

    monkeypatch.setattr(trainer_module, "hold_clicked_pixels_batch", counting)
    for flag in (0, 1):
        calls.clear()
        # round_decay 1e3 puts almost all of P(k) on k = max_rounds = 2
        cfg = TrainConfig(steps=1, batch=2, crop=64, lr=0.0, warmup=1, max_rounds=2, round_decay=1e3,
                          threads=1, frozen_blocks=0, hold_clicked=flag)
        stats = Trainer(build_model(imagenet_init=False), sampler, cfg, tmp_path / f"run{flag}").train_step()
        assert stats["rounds"] == 2
        assert calls == ([0, 1] if flag else [])  # round r holds the r clicks made before it


def test_degrade_zero_keeps_intensity_order(tmp_path):
    """--degrade 0 turns off inversion, blur and noise: what is left (gamma, gain, offset)
    keeps the order of grey values; the default degrades a ramp in some of 40 draws."""
    ramp = torch.linspace(0, 1, 64).expand(3, 8, 64).clone()

    def keeps_order(sampler):
        out = sampler._intensity(ramp, colour=False)
        return bool((out[:, :, 1:] >= out[:, :, :-1]).all()) and float(out.std()) > 0

    _write_folder(tmp_path)
    images = load_folder(tmp_path)
    clean = CropSampler(images, crop=64, seed=0, degrade=0.0)
    default = CropSampler(images, crop=64, seed=0)
    assert all(keeps_order(clean) for _ in range(40))
    assert not all(keeps_order(default) for _ in range(40))


def test_gaussian_blur_keeps_mean_and_spreads_an_edge():
    """The defocus blur preserves the mean grey and widens a step edge more as sigma grows."""
    from napari_inter2former.training.dataset import gaussian_blur

    step = torch.zeros(1, 32, 32)
    step[:, :, 16:] = 1.0

    def edge_width(img):  # pixels that are neither black nor white on one row
        row = img[0, 16]
        return int(((row > 0.05) & (row < 0.95)).sum())

    soft, softer = gaussian_blur(step, 0.8), gaussian_blur(step, 2.0)
    assert soft.shape == step.shape
    assert torch.allclose(soft.mean(), step.mean(), atol=1e-5)
    assert 0 < edge_width(soft) < edge_width(softer)


def test_blur_sigma_and_shading_options_change_the_crops(tmp_path):
    """--blur-sigma replaces the 3x3 box by a wider Gaussian; --shading 1 makes a flat grey uneven."""
    from napari_inter2former.training.dataset import shading_ramp

    _write_folder(tmp_path)
    images = load_folder(tmp_path)
    flat = torch.full((3, 48, 48), 0.5)
    shaded = CropSampler(images, crop=48, seed=0, degrade=0.0, shading=1.0)._intensity(flat, colour=False)
    unshaded = CropSampler(images, crop=48, seed=0, degrade=0.0)._intensity(flat, colour=False)
    assert float(unshaded.std()) < 1e-6 < float(shaded.std())
    ramp = shading_ramp((40, 40), np.random.default_rng(3))
    assert float(ramp.min()) >= 0.4 - 1e-6 and float(ramp.max()) <= 1.6 + 1e-6

    step = torch.zeros(3, 48, 48)
    step[:, :, 24:] = 1.0
    box = CropSampler(images, crop=48, seed=1, degrade=1.0)
    wide = CropSampler(images, crop=48, seed=1, degrade=1.0, blur_sigma=3.0)

    def widest_edge(sampler):  # over 60 draws, the widest grey band across the step
        widths = []
        for _ in range(60):
            row = sampler._intensity(step.clone(), colour=False)[0, 24]
            lo, hi = float(row[:8].mean()), float(row[-8:].mean())
            if hi - lo < 0.3:  # inverted or nearly flat draws say nothing about the width
                continue
            t = (row - lo) / (hi - lo)
            widths.append(int(((t > 0.2) & (t < 0.8)).sum()))
        return max(widths)

    assert widest_edge(wide) > widest_edge(box)


def test_touching_weight_draws_objects_that_touch_a_neighbour_more_often():
    from napari_inter2former.training.dataset import touching_flags

    labels = np.zeros((64, 64), np.int32)
    labels[5:15, 5:15] = 1
    labels[5:15, 16:26] = 2   # 1 px from object 1: both touch
    labels[40:50, 40:50] = 3  # alone
    labels[40:50, 5:15] = 4   # alone
    im = labelled_image("dsb_t", np.zeros((3, 64, 64), np.uint8), labels, False)
    assert im.touching == [True, True, False, False]
    assert touching_flags(labels, im.objects, gap=0) == [False, False, False, False]
    plain = CropSampler([im], crop=32, seed=0)
    heavy = CropSampler([im], crop=32, seed=0, touching_weight=4.0)
    share = [np.mean([im.touching[s._object_index(im)] for _ in range(2000)]) for s in (plain, heavy)]
    assert abs(share[0] - 0.5) < 0.05 and abs(share[1] - 0.8) < 0.05


def test_crops_carry_the_other_objects_aligned_with_image_and_target():
    labels = np.zeros((64, 64), np.int32)
    labels[10:30, 10:30] = 1
    labels[10:30, 31:50] = 2
    planes = np.where(labels > 0, 220, 20).astype(np.uint8)[None].repeat(3, 0)
    im = labelled_image("dsb_n", planes, labels, False)
    sampler = CropSampler([im], crop=48, seed=3, degrade=0.0)
    with_neighbour = 0
    for _ in range(20):  # rot90, flips and rescaling move image and both masks together
        image, target, others = sampler.sample()
        target, others = target > 0.5, others > 0.5
        assert target.any() and not (target & others).any()
        with_neighbour += bool(others.any())
        bright = image.mean(0) > 0.5 * (image.max() + image.min())
        assert (bright == (target | others)).float().mean() > 0.95
    assert with_neighbour >= 10  # most crops (magnified ones may not) reach the neighbour 1 px away


def test_neighbour_weight_scales_only_the_other_objects_pixels():
    from napari_inter2former.training.losses import neighbour_weight_map

    target = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    target[..., :4] = True
    others = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    others[..., 6:] = True  # a quarter of the pixels
    logits = torch.zeros(1, 1, 8, 8)  # every pixel's term alike
    plain = float(normalized_focal_loss(logits, target))
    weighted = float(normalized_focal_loss(logits, target, weight=neighbour_weight_map(others, 4.0)))
    assert abs(weighted - plain * (1 + 3 * 0.25)) < 1e-6
    coarse = neighbour_weight_map(others, 4.0, (2, 2))
    assert torch.allclose(coarse[0, 0], torch.tensor([[1.0, 2.5], [1.0, 2.5]]))


def test_neighbour_weight_option_raises_the_loss_of_a_spilling_decode(tmp_path):
    batch, stats, _ = _one_step_per_value(tmp_path, "neighbour_weight", (1.0, 5.0))
    assert batch[2].any()  # the synthetic images have neighbours in the crops
    assert stats[1]["full"] > stats[0]["full"] * 1.05, stats


def test_straight_cuts_leave_the_target_cut_by_axis_aligned_lines_on_image_background():
    from napari_inter2former.training.dataset import straight_cuts

    yy, xx = np.mgrid[:64, :64]
    inside = torch.zeros(64, 64)
    inside[:, :56] = 1.0  # the last 8 columns are the crop's zero padding
    # a nucleus cut by the image border: a cut's 2 px rim reaches into the padding
    disk = torch.from_numpy(((yy - 30) ** 2 + (xx - 40) ** 2 < 18**2).astype(np.float32)) * inside
    image = (0.5 + 0.4 * disk)[None].repeat(3, 1, 1) * inside
    masks = torch.stack([disk, torch.zeros(64, 64), inside])
    cut_any = 0
    for seed in range(20):
        new_image, new_masks = straight_cuts(image, masks, np.random.default_rng(seed))
        target, old = new_masks[0] > 0.5, disk > 0.5
        assert not (target & ~old).any() and int(target.sum()) >= 0.25 * int(old.sum())
        if int(target.sum()) == int(old.sum()):
            continue
        cut_any += 1
        ys, xs = torch.nonzero(target, as_tuple=True)
        box = torch.zeros_like(old)
        box[int(ys.min()) : int(ys.max()) + 1, int(xs.min()) : int(xs.max()) + 1] = True
        assert torch.equal(target, old & box)  # what is left is the disk inside an axis-aligned box
        changed = (new_image != image).any(0)
        assert not (changed & target).any() and (changed & old & ~target).any()
        # Filled with the image's background level (0.5), not the padding's 0.
        assert abs(float(new_image[:, changed].mean()) - 0.5) < 0.05
        assert torch.equal(new_masks[2], inside)
        assert not new_image[:, inside == 0].any()  # the padding stays zero
    assert cut_any >= 15


def test_straight_cuts_option_reaches_the_sampler(tmp_path):
    _write_folder(tmp_path)
    images = load_folder(tmp_path)
    plain, cutting = (CropSampler(images, crop=48, seed=2, degrade=0.0, straight_cuts=p) for p in (0.0, 1.0))
    area = [np.mean([float(s.sample()[1].sum()) for _ in range(30)]) for s in (plain, cutting)]
    assert area[1] < 0.9 * area[0]


def test_outline_view_turns_a_filled_disk_into_a_ring_and_keeps_padding_dark():
    from napari_inter2former.training.dataset import outline_view

    yy, xx = np.mgrid[:64, :64]
    inside = torch.zeros(64, 64)
    inside[:, :48] = 1.0  # the last 16 columns are the crop's zero padding
    disk = torch.from_numpy(((yy - 32) ** 2 + (xx - 24) ** 2 < 12**2).astype(np.float32))
    image = (0.2 + 0.6 * disk)[None].repeat(3, 1, 1) * inside
    out = outline_view(image, inside, np.random.default_rng(0))
    assert out.shape == image.shape and float(out.min()) >= 0 and float(out.max()) <= 1
    r = ((yy - 32) ** 2 + (xx - 24) ** 2) ** 0.5
    ring, centre = out[0][torch.from_numpy(abs(r - 12) < 1.5)], out[0][torch.from_numpy(r < 5)]
    assert float(ring.mean()) > 0.5 and float(centre.max()) < 0.05  # bright outline, dark inside
    assert float(out[:, :, 44:].abs().max()) < 0.05  # the step into the padding is no outline


def test_outlines_option_reaches_the_sampler(tmp_path):
    _write_folder(tmp_path)
    images = load_folder(tmp_path)
    import torch.nn.functional as F

    def rim_and_core(sampler):
        """Mean intensity on each target's 2 px inner rim and deeper inside, over 20 crops."""
        rim, core = [], []
        for _ in range(20):
            image, target, _ = sampler.sample()
            t = target > 0.5
            eroded = -F.max_pool2d(-t.float()[None, None], 7, 1, 3)[0, 0] > 0.5
            if eroded.sum() < 4:
                continue
            band = t & ~(-F.max_pool2d(-t.float()[None, None], 5, 1, 2)[0, 0] > 0.5)
            rim.append(float(image[0][band].mean()))
            core.append(float(image[0][eroded].mean()))
        return np.mean(rim), np.mean(core)

    plain, outlined = (CropSampler(images, crop=48, seed=2, degrade=0.0, outlines=p) for p in (0.0, 1.0))
    rim, core = rim_and_core(outlined)
    assert rim > 2 * core  # objects drawn by their outline: bright rim, dark inside
    rim, core = rim_and_core(plain)
    assert core >= rim  # filled objects, as the synthetic folder draws them


def test_train_names_an_empty_tiff_instead_of_a_shape_mismatch(tmp_path):
    from napari_inter2former.training.dataset import read_pair

    _write_folder(tmp_path, n_images=1)
    image = tmp_path / "images" / "syn_0.tif"
    tifffile.imwrite(image, np.zeros((0,), np.uint8))
    with pytest.raises(ValueError, match="not a readable image \\(corrupt or empty TIFF\\)"):
        read_pair(image, tmp_path / "labels")


def test_match_native_shows_native_and_shrunk_objects_at_the_predictors_scale(tmp_path):
    _write_folder(tmp_path)
    images = load_folder(tmp_path)
    matched = CropSampler(images, crop=224, seed=3, zoom_matched=1.0, match_native=1.0)
    free = CropSampler(images, crop=224, seed=3, zoom_matched=1.0)
    # Shipped context 1.5. 150 px: a 225 -> 256 px window, decoded native; 300 px: a 450 -> 456 px
    # window (a stride multiple), shrunk to 256.
    for extent, factor in ((150, 1.0), (300, 256 / 456)):
        assert matched.policy.zoom(matched.policy.choose((0, extent, 0, extent), (1 << 20, 1 << 20))) == factor
        scales = np.array([matched._scale_for(extent) for _ in range(200)])
        assert scales.min() >= 0.85 * factor - 1e-6
        assert scales.max() <= min(1.18 * factor, 0.8 * 224 / extent) + 1e-6
        spread = np.array([free._scale_for(extent) for _ in range(200)])
        outside = (spread < 0.85 * factor - 1e-6) | (spread > 1.18 * factor + 1e-6)
        assert outside.mean() > 0.2  # without it, a random scale, as before
    # Magnified objects keep their own (wider) jitter either way.
    small = np.array([matched._scale_for(30) for _ in range(200)])
    assert small.min() < 0.85 * 2 and small.max() > 1.18 * 2

