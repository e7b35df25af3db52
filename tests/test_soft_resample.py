"""WindowPolicy.soft_resample: a magnified or shrunk decode comes back to image pixels from its
probabilities, not from its binary mask."""

import dataclasses

import numpy as np
import torch

from napari_inter2former.session import Predictor
from napari_inter2former.session.window import probabilities_to_native, to_native


def _signed_distance_disk(shape, centre, radius, scale):
    """Logits of a disk (image pixels) sampled on a grid `scale` times as fine: positive inside,
    growing with the distance from the outline, as a confident decoder gives them."""
    h, w = shape
    yy = (torch.arange(h, dtype=torch.float64) + 0.5) / scale
    xx = (torch.arange(w, dtype=torch.float64) + 0.5) / scale
    d = torch.sqrt((yy[:, None] - centre[0]) ** 2 + (xx[None, :] - centre[1]) ** 2)
    return (radius - d).float() * 4


def _true_disk(shape, centre, radius):
    yy, xx = np.mgrid[: shape[0], : shape[1]] + 0.5
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 < radius**2


def _iou(a, b):
    return (a & b).sum() / (a | b).sum()


def test_native_grid_is_plain_threshold():
    logits = torch.randn(40, 56)
    assert torch.equal(probabilities_to_native(logits, (3, 43, 10, 66)), logits > 0)


def test_magnified_binary_decode_comes_back_exactly():
    # A decode on an x2 grid that is a native mask repeated: both ways give that mask back.
    native = torch.rand(30, 30) > 0.5
    up = native.repeat_interleave(2, 0).repeat_interleave(2, 1)
    logits = torch.where(up, 3.0, -3.0)
    window = (0, 30, 0, 30)
    assert torch.equal(probabilities_to_native(logits, window), native)
    assert torch.equal(to_native(up, window), native)


def test_shrunk_decode_outline_falls_between_cells():
    # A disk decoded on a grid 0.6 times as fine as the image: the probabilities place its
    # outline closer to the true one than the binary cells do.
    window = (0, 120, 0, 120)
    centre, radius = (61.3, 58.7), 23.4
    grid = (72, 72)
    logits = _signed_distance_disk(grid, centre, radius, scale=0.6)
    truth = _true_disk((120, 120), centre, radius)
    soft = probabilities_to_native(logits, window).numpy()
    hard = to_native(logits > 0, window).numpy()
    assert _iou(soft, truth) > _iou(hard, truth)
    assert _iou(soft, truth) > 0.98


def test_magnified_decode_ties_follow_confidence():
    # 2x2 cells of which two say object: area majority counts a tie as object; with the
    # probabilities the more confident pair decides.
    logits = torch.tensor([[4.0, 4.0], [-6.0, -6.0]])
    window = (0, 1, 0, 1)
    assert bool(to_native(logits > 0, window)[0, 0])
    assert not bool(probabilities_to_native(logits, window)[0, 0])


def test_session_with_soft_resample_segments_like_the_logits(nuclei):
    # The option changes only how a resampled decode comes back; a real model still gives a
    # mask near the plain one, and the clicked pixel is held.
    masks = {}
    for soft in (False, True):
        predictor = Predictor(threads=1)
        predictor.window_policy = dataclasses.replace(predictor.window_policy, soft_resample=soft)
        predictor.set_image(nuclei)
        session = predictor.new_session()
        session.add_click(180, 180, True)
        result = session.add_click(200, 200, True)
        full = result.to_full(nuclei.shape[:2])
        assert full[180, 180] and full[200, 200]
        masks[soft] = full
    assert _iou(masks[False], masks[True]) > 0.8


def test_decode_window_is_its_logits_thresholded(random_predictor):
    random_predictor.set_image(np.random.default_rng(0).random((96, 96)).astype(np.float32))
    ref = torch.zeros(128, 128, dtype=torch.uint8)
    ref[60:66, 60:66] = 1
    window = (0, 64, 0, 64)  # decoded magnified x2
    logits = random_predictor.decode_window_logits(window, ref)
    assert logits.dtype == torch.float32 and logits.shape == (128, 128)
    assert np.array_equal(random_predictor.decode_window(window, ref), (logits > 0).numpy())
