"""Small objects decoded on a magnified grid: window choice, resampling, and the session path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import component_decoder

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.reference_map import LIKELY_FG
from napari_inter2former.session import Predictor, WindowPolicy
from napari_inter2former.session.window import resample_to_window, to_decode_grid, to_native

ZOOM = WindowPolicy(stride=8, min_side=256, max_side=1024, zoom_side=256, max_zoom=4.0, min_zoom=1.5)


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
    monkeypatch.setattr(Predictor, "decode_window", component_decoder)
    image, spot = _spot_image()
    torch.manual_seed(0)
    predictor = Predictor(weights=None, model=Inter2Former().eval(), tile_size=256, halo=64, window_policy=ZOOM)
    predictor.set_image(image)
    session = predictor.new_session()
    sizes = []
    decode = Predictor.decode_window
    monkeypatch.setattr(Predictor, "decode_window",
                        lambda self, w, ref, progress=None: sizes.append((w, tuple(ref.shape))) or decode(self, w, ref))
    first = session.add_click(150, 141)
    # The first click is decoded natively (size unknown), then again magnified once the mask is small.
    assert sizes[0][1] == (256, 256) and sizes[0][0][1] - sizes[0][0][0] == 256
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
