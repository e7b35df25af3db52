"""Small objects decoded on a magnified grid: window choice, resampling, and the session path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import component_decoder, logits_of

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.reference_map import CERTAIN_FG, LIKELY_FG
from napari_inter2former.session import Predictor, WindowPolicy
from napari_inter2former.session.window import (
    resample_to_window,
    to_decode_grid,
    to_native,
)

ZOOM = WindowPolicy(overhang=0, stride=8, min_side=256, max_side=1024, zoom_side=256, max_zoom=4.0, min_zoom=1.5, context=2.0)


def _record_grids(monkeypatch) -> list:
    """Wrap the (already patched) decoder so each call's (window, decode grid) is recorded."""
    grids = []
    decode = Predictor.decode_window_logits
    monkeypatch.setattr(Predictor, "decode_window_logits",
                        lambda self, w, ref, progress=None, views=True, plain=None: grids.append((w, tuple(ref.shape))) or decode(self, w, ref, views=views, plain=plain))
    return grids


def test_small_focus_gets_a_magnified_window_and_a_first_click_does_not():
    window = ZOOM.choose((500, 510, 500, 510), (2000, 2000))
    assert window[1] - window[0] == 64 and window[3] - window[2] == 64
    assert ZOOM.zoom(window) == 4.0 and ZOOM.decode_size(window) == (256, 256)
    native = ZOOM.choose((500, 510, 500, 510), (2000, 2000), zoom=False)
    assert native[1] - native[0] == 256 and ZOOM.zoom(native) == 1.0
    # A 60 px object: window 120 px, magnified 256/120 = 2.13 onto a stride multiple.
    mid = ZOOM.choose((500, 560, 500, 560), (2000, 2000))
    assert mid[1] - mid[0] == 120 and ZOOM.decode_size(mid) == (256, 256)
    # Large enough that magnifying would gain < 1.5x: native, min_side.
    big = ZOOM.choose((500, 600, 500, 600), (2000, 2000))
    assert big[1] - big[0] == 256 and ZOOM.zoom(big) == 1.0
    assert WindowPolicy(max_zoom=1).zoom((0, 64, 0, 64)) == 1.0


def test_native_window_is_left_for_a_magnified_one_but_a_magnified_one_is_kept():
    native = ZOOM.choose((500, 510, 500, 510), (2000, 2000), zoom=False)
    assert ZOOM.choose((500, 510, 500, 510), (2000, 2000), native, zoom=False) == native
    small = ZOOM.choose((500, 510, 500, 510), (2000, 2000), native)
    assert ZOOM.zoom(small) > 1.0
    assert ZOOM.choose((502, 512, 500, 508), (2000, 2000), small) == small


def test_resampling_is_an_exact_crop_at_native_scale_and_round_trips_when_magnified():
    values = torch.arange(40 * 48, dtype=torch.int32).reshape(40, 48)
    src, dst = (100, 140, 200, 248), (108, 148, 208, 240)
    out = resample_to_window(values, src, dst, (40, 32), fill=-1)
    assert torch.equal(out[:32, :], values[8:40, 8:40])
    assert (out[32:, :] == -1).all()
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[10:30, 5:17] = True
    window = (64, 128, 0, 64)
    up = resample_to_window(mask, window, window, (256, 256), fill=0)
    assert up.sum() == mask.sum() * 16
    assert torch.equal(to_native(up, window), mask)
    assert to_decode_grid(window, (256, 256), 64 + 10, 5) == (42, 22)  # the centre of the 4x4 cell


def _spot_image():
    image = np.full((300, 300), 10, np.uint8)
    yy, xx = np.mgrid[:300, :300]
    spot = (yy - 150) ** 2 + (xx - 141) ** 2 <= 16  # a nucleus 9 px across
    image[spot] = 200
    return image, spot


def test_session_decodes_a_small_object_magnified_and_returns_native_pixels(monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image, spot = _spot_image()
    torch.manual_seed(0)
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=256, halo=64, window_policy=ZOOM)
    predictor.set_image(image)
    session = predictor.new_session()
    sizes = _record_grids(monkeypatch)
    first = session.add_click(150, 141)
    # The first click is decoded shrunk by the large-object probe (the whole 304 px image), which
    # finds a small object, so natively (size unknown), then again magnified once the mask is small.
    assert sizes[0][0] == (0, 304, 0, 304) and sizes[0][1] == (256, 256)
    assert sizes[1][1] == (256, 256) and sizes[1][0][1] - sizes[1][0][0] == 256
    assert sizes[-1][1] == (256, 256) and sizes[-1][0][1] - sizes[-1][0][0] == 64
    assert first.mask.shape == (64, 64)
    assert np.array_equal(first.to_full(image.shape), spot)
    # R is kept on the magnified grid: the prediction became probably-foreground there.
    assert (session._state.ref == LIKELY_FG).sum() > spot.sum() * 8
    # A negative click on the spot's edge keeps the window and removes that pixel.
    second = session.add_click(150, 145, positive=False)
    assert second.window == first.window
    full = second.to_full(image.shape)
    assert not full[150, 145] and full[150, 141]


def test_real_model_magnified_path_encodes_once_per_window():
    torch.manual_seed(0)
    predictor = Predictor(weights=None, window_policy=ZOOM, tile_size=256, halo=64)
    image, _ = _spot_image()
    predictor.set_image(image[100:180, 100:180])  # 80 px: the whole image is one magnified window
    session = predictor.new_session()
    first = session.add_click(50, 41)
    assert first.mask.shape == (80, 80) and first.encode_s > 0 and first.tiles_encoded == 0
    second = session.add_click(20, 20, positive=False)
    assert second.window == first.window and second.encode_s == 0.0  # features kept
    assert not second.to_full((80, 80))[20, 20]


@pytest.mark.parametrize("size", [(100, 64), (63, 64)])
def test_magnified_features_reject_sizes_off_the_stride(size):
    torch.manual_seed(0)
    predictor = Predictor(weights=None, window_policy=ZOOM)
    predictor.set_image(np.random.default_rng(0).random((64, 64)).astype(np.float32))
    if size[0] % 8:
        with pytest.raises(ValueError, match="multiple"):
            predictor.cache.magnified(0, 64, 0, 64, size)
    else:
        feats = predictor.cache.magnified(0, 64, 0, 64, size)
        assert feats.tokens.shape[-2:] == (size[0] // 8, size[1] // 8)
        assert feats.edges[0].shape[-2:] == size


SHRINK = WindowPolicy(overhang=0, stride=8, min_side=256, max_side=1024, zoom_side=256, max_zoom=2.0, shrink=True, context=2.0)


def test_large_windows_are_decoded_shrunk_and_others_keep_their_scale():
    assert SHRINK.zoom((0, 512, 0, 384)) == 0.5 and SHRINK.decode_size((0, 512, 0, 384)) == (256, 192)
    assert SHRINK.zoom((0, 256, 0, 256)) == 1.0  # min_side windows stay native (tile cache)
    assert SHRINK.zoom((0, 64, 0, 64)) == 2.0  # small objects are still magnified
    assert SHRINK.decode_size((0, 1000, 0, 1000)) == (256, 256)
    assert SHRINK.zoom((0, 264, 0, 200)) == 256 / 264
    assert WindowPolicy(shrink=False).zoom((0, 1024, 0, 1024)) == 1.0


def test_session_decodes_a_large_object_shrunk_and_returns_native_pixels(monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((700, 700), 10, np.uint8)
    yy, xx = np.mgrid[:700, :700]
    cell = (yy - 350) ** 2 + (xx - 340) ** 2 <= 150**2  # 301 px across: larger than the first window
    image[cell] = 200
    # Without the first-click probe, so that the growth path is what is tested.
    no_probe = WindowPolicy(stride=8, min_side=256, max_side=1024, zoom_side=256, max_zoom=2.0, probe_large=False, context=2.0)
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=256, halo=64, window_policy=no_probe)
    predictor.set_image(image)
    grids = _record_grids(monkeypatch)
    session = predictor.new_session()
    first = session.add_click(350, 340)
    # Native 256 px first window; the mask touches its edges, so it grows and is then decoded shrunk.
    assert grids[0][1] == (256, 256) and grids[0][0][1] - grids[0][0][0] == 256
    window, grid = grids[-1]
    assert window[1] - window[0] > 301 and max(grid) == 256 and first.extra["zoom"] < 1.0
    full = first.to_full(image.shape)
    iou = (full & cell).sum() / (full | cell).sum()
    assert iou > 0.97  # the shrunk grid costs at most ~1 native px along the outline
    # A negative click near the edge is still honoured on native pixels (held clicked pixel).
    second = session.add_click(350, 488, positive=False)
    assert not second.to_full(image.shape)[350, 488] and second.to_full(image.shape)[350, 340]


def test_shrunk_features_are_encoded_from_an_antialiased_window(monkeypatch):
    # Plain bilinear at x0.25 reads 2 of every 4 pixels: fine texture would alias into the encoder.
    torch.manual_seed(0)
    predictor = Predictor(weights=None, window_policy=SHRINK)
    image = np.random.default_rng(0).random((512, 512)).astype(np.float32)
    predictor.set_image(image)
    seen = []
    encode = predictor.cache._encode
    monkeypatch.setattr(predictor.cache, "_encode", lambda x: seen.append(x.clone()) or encode(x))
    feats = predictor.cache.magnified(0, 512, 0, 512, (128, 128))
    assert feats.tokens.shape[-2:] == (16, 16) and feats.edges[0].shape[-2:] == (128, 128)
    region = torch.from_numpy(predictor.source.read(0, 512, 0, 512))[None]
    smooth = torch.nn.functional.interpolate(region, size=(128, 128), mode="bilinear", antialias=True)
    assert torch.allclose(seen[0][:, :, :128, :128], smooth.clamp(0, 1), atol=1e-5)


def _blob_at_click(ref, radius: float) -> np.ndarray:
    """A disk of `radius` grid pixels around the positive click disk in `ref`."""
    ys, xs = np.nonzero(ref.numpy() == CERTAIN_FG)
    yy, xx = np.mgrid[: ref.shape[0], : ref.shape[1]]
    return (yy - ys.mean()) ** 2 + (xx - xs.mean()) ** 2 <= radius**2


def _blob_when_native(self, window, ref, progress=None, views=True):
    """A decoder that fails like the model on a large object at native scale: a 10 px blob
    around the positive click; on a resampled (shrunk) grid it finds the whole component."""
    if tuple(ref.shape) != (window[1] - window[0], window[3] - window[2]):
        return component_decoder(self, window, ref)
    return _blob_at_click(ref, 10)


@pytest.mark.parametrize("probe", [True, False])
def test_first_click_on_a_large_object_is_probed_on_a_shrunk_window(monkeypatch, probe):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(_blob_when_native))
    image = np.full((800, 800), 10, np.uint8)
    yy, xx = np.mgrid[:800, :800]
    cell = (yy - 400) ** 2 + (xx - 390) ** 2 <= 90**2  # 181 px: its window (2x) would be shrunk
    image[cell] = 200
    policy = WindowPolicy(probe_large=probe)
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=256, halo=64, window_policy=policy)
    predictor.set_image(image)
    grids = _record_grids(monkeypatch)
    first = predictor.new_session().add_click(400, 390)
    full = first.to_full(image.shape)
    if probe:  # the probe's mask shows a large object, so its shrunk decode is kept
        assert first.extra["zoom"] == 0.5 and (full & cell).sum() / (full | cell).sum() > 0.97
        # ... and the native window was never decoded: every decode was on a shrunk grid
        assert all(max(grid) < w[1] - w[0] for w, grid in grids)
    else:  # without it the native blob stays
        assert full.sum() < 2 * 314 and (full & cell).sum() / (full | cell).sum() < 0.05


def test_probe_keeps_the_native_path_for_a_small_object(monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((800, 800), 10, np.uint8)
    yy, xx = np.mgrid[:800, :800]
    spot = (yy - 400) ** 2 + (xx - 390) ** 2 <= 25
    image[spot] = 200
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=256, halo=64, window_policy=WindowPolicy(overhang=0))
    predictor.set_image(image)
    grids = _record_grids(monkeypatch)
    first = predictor.new_session().add_click(400, 390)
    # the 512 px probe and the 800 px one (the whole image; both shrunk to 256) find a small
    # object, so the native 256 window follows, then the magnified refine (x2)
    assert [w[1] - w[0] for w, _ in grids] == [512, 800, 256, 128] and grids[0][1] == (256, 256)
    assert first.extra["zoom"] == 2.0 and np.array_equal(first.to_full(image.shape), spot)


@pytest.mark.parametrize("policy, whole", [(WindowPolicy(), True), (WindowPolicy(max_side=1024), False),
                                           (WindowPolicy(shrink=False), False)])
def test_objects_wider_than_1024_px_fit_a_shrunk_window(monkeypatch, policy, whole):
    """Shrunk windows cost the same at any size, so they may grow to 2048 px and hold a 1400 px
    object whole; native windows (no shrinking) stay capped at 1024 px."""
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((1800, 1800), 10, np.uint8)
    yy, xx = np.mgrid[:1800, :1800]
    cell = (yy - 900) ** 2 + (xx - 880) ** 2 <= 700**2
    image[cell] = 200
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=512, halo=64, window_policy=policy)
    predictor.set_image(image)
    grids = _record_grids(monkeypatch)
    first = predictor.new_session().add_click(900, 880)
    full = first.to_full(image.shape)
    iou = (full & cell).sum() / (full | cell).sum()
    side = max(first.window[1] - first.window[0], first.window[3] - first.window[2])
    assert side <= policy.cap and all(max(grid) <= 256 for _, grid in grids) == policy.shrink
    if whole:
        assert side > 1400 and iou > 0.97
    else:
        assert side <= 1024 and iou < 0.75


def _blob_unless_coarse(self, window, ref, progress=None, views=True):
    """A decoder that, like the model on a huge object, sees only background around a click in
    its interior unless the window is shrunk to x0.25 or less: then it finds the component."""
    if ref.shape[0] <= (window[1] - window[0]) / 4:
        return component_decoder(self, window, ref)
    return _blob_at_click(ref, 3)


@pytest.mark.parametrize("levels", [1, 3])
def test_coarser_probes_find_an_object_wider_than_the_first_probe(monkeypatch, levels):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(_blob_unless_coarse))
    image = np.full((1800, 1800), 10, np.uint8)
    yy, xx = np.mgrid[:1800, :1800]
    cell = (yy - 900) ** 2 + (xx - 880) ** 2 <= 600**2
    image[cell] = 200
    policy = WindowPolicy(overhang=0, probe_levels=levels)
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=512, halo=64, window_policy=policy)
    predictor.set_image(image)
    grids = _record_grids(monkeypatch)
    full = predictor.new_session().add_click(900, 880).to_full(image.shape)
    iou = (full & cell).sum() / (full | cell).sum()
    sides = [w[1] - w[0] for w, _ in grids]
    if levels == 3:  # the 512 px probe sees a blob; the 1024 px one (x0.25) the cell, grown to the image
        assert sides[:3] == [512, 1024, 1800] and iou > 0.97
    else:
        assert sides[0] == 512 and 1024 not in sides and iou < 0.01


def test_default_context_magnifies_a_100_px_cell_that_context_2_left_native():
    # The shipped context 1.5 (window 150 px, zoom 1.68) measured better on val Usiigaci cells
    # than 2.0 (window 200 px: gain < min_zoom, so native at 256 px).
    focus, hw = (500, 600, 500, 600), (2000, 2000)
    shipped = WindowPolicy(overhang=0)
    window = shipped.choose(focus, hw)
    assert window[1] - window[0] == 152 and shipped.zoom(window) > 1.5
    old = WindowPolicy(overhang=0, context=2.0)
    assert old.zoom(old.choose(focus, hw)) == 1.0
