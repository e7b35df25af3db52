"""Tiled, cached encoding against whole-image encoding, and windows that grow across tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import component_decoder, logits_of

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.reference_map import initial_reference_map, paint_click
from napari_inter2former.session import Predictor, WindowPolicy
from napari_inter2former.session.feature_cache import TiledFeatureCache, encode_whole
from napari_inter2former.session.image_source import ImageSource

# Measured on this random-init model (seed 0), 600x700 image, tile 256, halo 64:
# tokens max |tiled - whole| = 1.9e-7 (feature scale ~0.13), edge features 0.0 (their
# receptive field is far smaller than the halo). With halo 0 the tokens differ by > 1e-2.
# Tolerances keep ~50x margin. A trained encoder has a longer effective receptive field,
# so its difference will be larger; this test guards the stitching arithmetic.
TOKEN_ATOL = 1e-5
EDGE_ATOL = 1e-6


def _blobs(height, width, count=20, seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:height, :width]
    image = (rng.random((height, width)) * 0.2).astype(np.float32)
    for _ in range(count):
        cy, cx, r = rng.integers(0, height), rng.integers(0, width), rng.integers(8, 30)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 1.0
    return image


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Inter2Former().eval()


def _max_differences(tiled, whole):
    h, w = tiled.tokens.shape[-2:]
    diffs = [(tiled.tokens - whole.tokens[..., :h, :w]).abs().max().item()]
    for a, b in zip(tiled.edges, whole.edges):
        diffs.append((a - b[..., : a.shape[-2], : a.shape[-1]]).abs().max().item())
    return diffs


def test_tiled_features_match_whole_image(model):
    source = ImageSource(_blobs(600, 700))
    cache = TiledFeatureCache(model, source, tile_size=256, halo=64)
    tiled = cache.window(0, 600, 0, 704)
    assert cache.tiles_encoded == 9  # a 3x3 grid of 256 px tiles covers 600x704
    whole = encode_whole(model, source, halo=64)
    token_diff, *edge_diffs = _max_differences(tiled, whole)
    assert token_diff < TOKEN_ATOL, token_diff
    assert max(edge_diffs) < EDGE_ATOL, edge_diffs
    # A window not aligned to tiles is the matching crop of the same features.
    part = cache.window(200, 400, 248, 520)
    assert cache.tiles_encoded == 9  # served from the cache
    assert torch.equal(part.tokens, tiled.tokens[..., 25:50, 31:65])
    assert torch.equal(part.edges[0], tiled.edges[0][..., 200:400, 248:520])
    assert torch.equal(part.edges[2], tiled.edges[2][..., 50:100, 62:130])


def test_without_halo_the_seams_show(model):
    """The comparison above is sensitive: dropping the halo makes tiles disagree at their borders."""
    source = ImageSource(_blobs(256, 256, count=8))
    tiled = TiledFeatureCache(model, source, tile_size=128, halo=0).window(0, 256, 0, 256)
    token_diff, *_ = _max_differences(tiled, encode_whole(model, source, halo=0))
    assert token_diff > 100 * TOKEN_ATOL, token_diff


def test_lru_cache_stays_bounded_and_reencodes_identically(model):
    source = ImageSource(_blobs(256, 256, count=8))
    big = TiledFeatureCache(model, source, tile_size=64, halo=32)
    reference = big.window(0, 256, 0, 256)
    one_tile = sum(p.numel() * p.element_size() for p in big._tiles[(0, 0)])
    small = TiledFeatureCache(model, source, tile_size=64, halo=32, max_bytes=3 * one_tile)
    first = small.window(0, 128, 0, 128)  # 4 tiles, room for 3
    assert small.cached_bytes <= 3 * one_tile and len(small._tiles) == 3
    again = small.window(0, 128, 0, 128)
    assert small.tiles_encoded > 4  # evicted tiles came back
    assert torch.equal(first.tokens, again.tokens)
    assert torch.equal(again.tokens, reference.tokens[..., :16, :16])
    assert small.missing_tiles(0, 256, 0, 256) == 16 - len(small._tiles)


def test_window_bounds_and_tile_sizes_are_checked(model):
    source = ImageSource(_blobs(64, 64, count=2))
    with pytest.raises(ValueError, match="multiples of 16"):
        TiledFeatureCache(model, source, tile_size=100, halo=32)
    with pytest.raises(ValueError, match="multiples of 8"):
        TiledFeatureCache(model, source, tile_size=64, halo=16).window(0, 60, 0, 64)


# ----- windows that grow across tile borders

def _ellipse(shape, cy, cx, ry, rx):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def test_object_across_tiles_grows_window_without_seam(monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    shape = (384, 384)
    target = _ellipse(shape, 192, 200, 70, 110)  # crosses tile borders at 128 and 256
    distractor = _ellipse(shape, 40, 40, 15, 15)
    image = np.where(target | distractor, 200, 20).astype(np.uint8)
    predictor = Predictor(weights=None, model=_tiny_model(), tile_size=128, halo=32,
                          window_policy=WindowPolicy(overhang=0, min_side=64, max_side=384, max_zoom=1, shrink=False))
    predictor.set_image(image)
    session = predictor.new_session()
    result = session.add_click(192, 200)
    assert result.window_grows > 0
    assert result.window[1] - result.window[0] > 64
    assert np.array_equal(result.to_full(shape), target)
    # The same final window decoded in one go, from the same reference map.
    ref = initial_reference_map(result.window[1] - result.window[0], result.window[3] - result.window[2])
    paint_click(ref, 192 - result.window[0], 200 - result.window[2], True, 5)
    direct = predictor.decode_window(result.window, ref)
    assert np.array_equal(direct, result.mask)
    # A later click inside the object keeps the window: nothing grows, nothing changes.
    second = session.add_click(150, 200)
    assert second.window == result.window and second.window_grows == 0
    assert np.array_equal(second.to_full(shape), target)
    # A negative click removes its disk from the mask.
    third = session.add_click(192, 250, positive=False)
    assert not third.to_full(shape)[192, 250] and third.area < second.area


def test_growth_stops_at_max_side(monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((256, 256), 20, np.uint8)
    image[8:248, 8:248] = 200
    predictor = Predictor(weights=None, model=_tiny_model(), tile_size=64, halo=16,
                          window_policy=WindowPolicy(overhang=0, min_side=64, max_side=128, max_zoom=1, shrink=False))
    predictor.set_image(image)
    result = predictor.new_session().add_click(128, 128)
    y0, y1, x0, x1 = result.window
    assert (y1 - y0, x1 - x0) == (128, 128) and result.window_grows > 0
    assert result.mask.all()  # clipped by the cap: the whole window is object


def test_object_longer_than_max_side_keeps_the_clicked_end(monkeypatch):
    """Regression: capped growth slid the window off the click (final window rows 64..192 for a
    click on row 60); now the window stays anchored at the side the clicks are on."""
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((512, 256), 20, np.uint8)
    image[40:480, 100:160] = 200
    predictor = Predictor(weights=None, model=_tiny_model(), tile_size=128, halo=32,
                          window_policy=WindowPolicy(overhang=0, min_side=64, max_side=128, max_zoom=1, shrink=False))
    predictor.set_image(image)
    result = predictor.new_session().add_click(60, 130)
    y0, y1, x0, x1 = result.window
    assert result.window_grows > 0 and y1 - y0 == 128 and y0 <= 60 < y1
    full = result.to_full(image.shape)
    assert full[60, 130] and full[40, 100:160].all() and not full[y1:].any()


def _tiny_model():
    torch.manual_seed(0)
    return Inter2Former().eval()


def test_random_model_tiled_window_equals_single_tile_decode():
    """The real network: a session on small tiles with a growing window, against decoding the
    session's final window from features of one big tile covering the image."""
    model = _tiny_model()
    image = _blobs(192, 192, count=6, seed=3)
    # One view: a mirrored view is encoded on its own, not read from the tiles under test.
    tiled = Predictor(weights=None, model=model, tile_size=64, halo=64,
                      window_policy=WindowPolicy(overhang=0, min_side=64, max_side=192, max_zoom=1, shrink=False,
                                                 mirror_average=False))
    tiled.set_image(image)
    calls = []
    decode = tiled.decode_window_logits

    def spy(window, ref, progress=None, views=True, plain=None):
        calls.append((window, ref.clone()))
        return decode(window, ref, progress, views=views, plain=plain)

    tiled.decode_window_logits = spy
    result = tiled.new_session().add_click(96, 90)
    window, ref = calls[-1]
    assert result.window_grows > 0 and len(calls) == result.window_grows + 1
    assert window == result.window and len(tiled.cache.tiles_for(*window)) > 1
    assert 0 < result.area < 192 * 192  # not a trivial all/nothing mask

    single = Predictor(weights=None, model=model, tile_size=256, halo=64, window_policy=WindowPolicy(mirror_average=False))
    single.set_image(image)
    assert len(single.cache.tiles_for(*window)) == 1
    assert np.array_equal(single.decode_window(window, ref), result.mask)
    with torch.inference_mode():
        a = model.decode(tiled.cache.window(*window), ref[None].long())
        b = model.decode(single.cache.window(*window), ref[None].long())
    # Measured 4e-7 with this seed; 1e-4 leaves room for other BLAS orderings.
    assert (a.logits - b.logits).abs().max().item() < 1e-4


def test_a_window_larger_than_the_cache_budget_encodes_each_tile_once():
    rng = np.random.default_rng(3)
    source = ImageSource(rng.random((128, 128)).astype(np.float32))
    cache = TiledFeatureCache(Inter2Former(), source, tile_size=64, halo=16, max_bytes=1)  # keeps one tile
    feats = cache.window(0, 128, 0, 128)
    assert cache.tiles_encoded == 4
    assert feats.tokens.abs().sum() > 0


def test_intensity_sampling_loads_each_lazy_chunk_once():
    import dask.array as da

    from napari_inter2former.journal import PlaneSpec
    from napari_inter2former.journal.planes import PlaneView

    loaded = [0]

    def block(block_info=None):
        (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
        loaded[0] += (z1 - z0) * (y1 - y0) * (x1 - x0)
        return np.full((z1 - z0, y1 - y0, x1 - x0), 100, np.uint16) + (np.arange(y0, y1) % 7).astype(np.uint16)[:, None]

    # 64 sampled patches of a 4096² plane fall in 4 chunks: read patch by patch, each chunk
    # was loaded 16 times (16x the plane); in one graph, once.
    volume = da.map_blocks(block, chunks=((1, 1), (2048, 2048), (2048, 2048)), dtype=np.uint16)
    ImageSource(PlaneView(volume, PlaneSpec((1, None, None), 1, 2, None)))
    assert loaded[0] == 4096 * 4096
    loaded[0] = 0
    ImageSource(volume[0])
    assert loaded[0] == 4096 * 4096
