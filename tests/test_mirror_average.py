"""Averaging a window's logits with those of its mirror images (WindowPolicy.mirror_average,
vertical_mirror)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from napari_inter2former.model.reference_map import initial_reference_map, paint_click
from napari_inter2former.session import Predictor


SMALL_ELLIPSES = ((40, 30, 14, 9), (70, 85, 10, 18), (95, 40, 7, 7))  # (cy, cx, ry, rx)
SPREAD_ELLIPSES = ((140, 130, 14, 9), (270, 285, 10, 18), (95, 340, 7, 7))


def _blobs(size: int = 120, seed: int = 3, ellipses=SMALL_ELLIPSES) -> np.ndarray:
    """An asymmetric image: a few bright ellipses of different sizes on a noisy background."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    image = rng.normal(40, 6, (size, size))
    for cy, cx, ry, rx in ellipses:
        image[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] += 150
    return np.clip(image, 0, 255).astype(np.uint8)


def _decode(predictor: Predictor, image: np.ndarray, click: tuple[int, int]) -> np.ndarray:
    """The magnified decode (120 px window shown at 256 px) of one positive click."""
    predictor.set_image(image)
    ref = initial_reference_map(256, 256)
    paint_click(ref, *click, positive=True, radius=2)
    return predictor.decode_window((0, 120, 0, 120), ref)


@pytest.mark.parametrize("axis, policy, symmetric", [
    (1, {"mirror_average": False}, False),  # one view alone is not mirror-symmetric: the test can fail
    (1, {}, True),  # left-right: both views are the same two encodings in the other order
    (0, {}, False),  # plain and left-right views are not symmetric top to bottom
    (0, {"vertical_mirror": True}, True),  # the four views again, in another order
])
def test_flipped_views_make_the_prediction_follow_a_flipped_image(axis, policy, symmetric):
    predictor = Predictor(threads=1)
    predictor.window_policy = dataclasses.replace(predictor.window_policy, **policy)
    image = _blobs()
    # The click on the left ellipse (image 40, 30) on the 256 px grid, and its flipped position.
    click = (85, 64)
    flipped_click = (255 - 85, 64) if axis == 0 else (85, 255 - 64)
    mask = _decode(predictor, image, click)
    flipped = _decode(predictor, np.flip(image, axis).copy(), flipped_click)
    assert 200 < mask.sum() < 0.5 * mask.size  # a real object, not an empty or full window
    differ = int((mask != np.flip(flipped, axis)).sum())
    # Equal up to float rounding when the views make the average symmetric.
    assert (differ <= 3) == symmetric, differ


def test_mirrored_encoding_is_cached_apart_from_the_plain_one():
    predictor = Predictor(weights=None, threads=1)
    predictor.set_image(_blobs())
    plain = predictor.cache.magnified(0, 120, 0, 120, (256, 256))
    mirrored = predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(-1,))
    assert not torch.equal(plain.tokens, mirrored.tokens)
    assert predictor.cache.magnified(0, 120, 0, 120, (256, 256)) is plain
    assert predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(-1,)) is mirrored
    upside_down = predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(-2,))
    assert not torch.equal(upside_down.tokens, mirrored.tokens)
    # The order of the dims does not make another view.
    both = predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(-1, -2))
    assert predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(-2, -1)) is both
    with pytest.raises(ValueError, match="flip dims"):
        predictor.cache.magnified(0, 120, 0, 120, (256, 256), flip=(0,))


def test_one_view_probes_flip_only_the_window_a_first_click_keeps():
    image = _blobs(400, ellipses=SPREAD_ELLIPSES)
    results = {}
    for flip_probes in (True, False):
        predictor = Predictor(threads=1)
        predictor.window_policy = dataclasses.replace(predictor.window_policy, flip_probes=flip_probes)
        predictor.set_image(image)
        result = predictor.new_session().add_click(140, 130, True)
        mirrored = {key[:4] for key in predictor.cache._magnified if key[5] == (-1,)}
        plain = {key[:4] for key in predictor.cache._magnified if key[5] == ()}
        results[flip_probes] = result, mirrored, plain
    result, mirrored, plain = results[False]
    assert 200 < result.mask.sum() < 1000 and result.extra["zoom"] > 1  # the nucleus, magnified
    # Two probes and the magnified window were encoded plain; only the kept window mirrored.
    assert len(plain) == 3 and len(mirrored) == 1 and mirrored <= plain
    # With flipped probes every decode had its mirror; here both chose the same window, so the
    # kept masks are the same decode.
    assert len(results[True][1]) == 4 and mirrored <= results[True][1]
    assert np.array_equal(result.mask, results[True][0].mask)


def test_a_first_click_on_a_window_too_wide_for_flipped_views_is_decoded_once():
    # A forced native 512 px window has no flipped views (wider than zoom_side), so one-view
    # probes must not make its first click decode twice.
    policy = dataclasses.replace(Predictor().window_policy, min_side=512, max_side=512, max_zoom=1, shrink=False)
    predictor = Predictor(weights=None, threads=1, window_policy=policy)
    predictor.set_image(_blobs(600, ellipses=SPREAD_ELLIPSES))
    calls = []
    decode = predictor.decode_window_logits
    predictor.decode_window_logits = lambda *a, **k: calls.append(a[0]) or decode(*a, **k)
    predictor.new_session().add_click(140, 130, True)
    assert len(calls) == 1 and calls[0][1] - calls[0][0] == 512


def _first_click(predictor: Predictor, image: np.ndarray, reuse: bool):
    """(mask, model decodes, decode_window_logits calls as (window, views)) of one first click;
    `reuse=False` withholds the one-view logits the session hands to the views decode."""
    predictor.set_image(image)
    calls, decodes = [], []
    decode_logits, model_decode = predictor.decode_window_logits, predictor.model.decode

    def spy(window, ref, progress=None, views=True, plain=None):
        calls.append((window, views))
        return decode_logits(window, ref, progress, views=views, plain=plain if reuse else None)

    predictor.decode_window_logits = spy
    predictor.model.decode = lambda *a, **k: decodes.append(1) or model_decode(*a, **k)
    try:
        result = predictor.new_session().add_click(200, 200, True)
    finally:
        del predictor.decode_window_logits, predictor.model.decode
    return result.mask, len(decodes), calls


def test_the_kept_window_of_a_first_click_decodes_only_its_flips_again():
    # A large nucleus: a probe keeps a shrunk window, decoded first in one view to choose it.
    image = _blobs(400, ellipses=((200, 200, 100, 90),))
    predictor = Predictor(threads=1)
    mask, decodes, calls = _first_click(predictor, image, reuse=True)
    again, decodes_again, calls_again = _first_click(predictor, image, reuse=False)
    kept = calls[-1][0]
    assert calls[-1][1] and (kept, False) in calls  # the kept window: once one view, then views
    assert calls == calls_again and 0.9 < mask.sum() / (np.pi * 100 * 90) < 1.1
    # The same mask, with the plain view of the kept window decoded once instead of twice.
    assert np.array_equal(mask, again) and decodes == decodes_again - 1
