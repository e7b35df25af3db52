"""ObjectSession / Predictor behaviour: clicks, undo, reset, replay, seeds, and lazy reading."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch

from napari_inter2former.model import Inter2Former
from napari_inter2former.model.reference_map import (
    CERTAIN_BG,
    CERTAIN_FG,
    LIKELY_BG,
    LIKELY_FG,
    UNKNOWN,
    paint_click,
    update_reference_map,
)
from napari_inter2former.session import Click, MaskResult, Predictor, WindowPolicy


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return Inter2Former().eval()


def _blobs(shape=(96, 112), seed=0):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = rng.integers(0, 30, shape).astype(np.uint16)
    for _ in range(6):
        cy, cx, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), rng.integers(6, 14)
        image[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] += 500
    return image


def _predictor(model, image=None, **kw):
    kw.setdefault("window_policy", WindowPolicy(overhang=0, min_side=64, max_side=128, max_zoom=1, shrink=False))
    predictor = Predictor(weights=None, model=model, tile_size=kw.pop("tile_size", 64), halo=kw.pop("halo", 32), **kw)
    if image is not None:
        predictor.set_image(image)
    return predictor


def _spy(predictor):
    """Record (window, reference map) of every decode."""
    calls = []
    decode = predictor.decode_window_logits

    def spy(window, ref, progress=None, views=True, plain=None):
        calls.append((window, ref.clone()))
        return decode(window, ref, progress, views=views, plain=plain)

    predictor.decode_window_logits = spy
    return calls


def test_add_click_result_and_cache(model):
    predictor = _predictor(model, _blobs())
    session = predictor.new_session()
    steps = []
    first = session.add_click(40, 50, progress=lambda done, total: steps.append((done, total)))
    assert isinstance(first, MaskResult) and first.mask.dtype == bool
    y0, y1, x0, x1 = first.window
    assert 0 <= y0 < y1 <= 96 and 0 <= x0 < x1 <= 112
    assert first.tiles_encoded > 0 and first.encode_s > 0 and first.latency_s >= first.encode_s
    assert steps and steps[-1][0] == steps[-1][1]
    assert session.clicks == [Click(40, 50, True)]
    second = session.add_click(70.4, 20.6, positive=False)  # rounded to its pixel
    assert session.clicks[-1] == Click(70, 21, False)
    # The random model's mask fills the image, so the first click grew the window to all of it;
    # the second click reuses that window and its cached tiles.
    assert first.window_grows > 0 and first.tiles_encoded == 4  # 2x2 tiles of 64 px
    assert second.window == first.window and second.tiles_encoded == 0 and second.encode_s == 0
    assert np.array_equal(first.to_full((96, 112))[y0:y1, x0:x1], first.mask)


def test_reference_map_bookkeeping_between_clicks(model):
    predictor = _predictor(model, _blobs(), window_policy=WindowPolicy(overhang=0, min_side=128, max_side=128, max_zoom=1, shrink=False))
    calls = _spy(predictor)
    session = predictor.new_session()
    first = session.add_click(40, 50)
    window1, ref1 = calls[-1]
    expected = torch.full(ref1.shape, UNKNOWN, dtype=torch.uint8)
    paint_click(expected, 40 - window1[0], 50 - window1[2], True, model.config.click_radius)
    assert torch.equal(ref1, expected)
    session.add_click(70, 20, positive=False)
    window2, ref2 = calls[-1]
    assert window2 == window1  # the object still fits: the window is kept
    # R absorbed the first prediction, the old disk survives, the new disk is painted.
    fg = torch.zeros(ref1.shape, dtype=torch.bool)
    fg[: first.mask.shape[0], : first.mask.shape[1]] = torch.from_numpy(first.mask)
    expected = update_reference_map(ref1, fg)
    paint_click(expected, 70 - window1[0], 20 - window1[2], False, model.config.click_radius)
    assert torch.equal(ref2, expected)
    assert ref2[40 - window1[0], 50 - window1[2]] == CERTAIN_FG
    assert ref2[70 - window1[0], 20 - window1[2]] == CERTAIN_BG


def test_undo_restores_previous_result(model):
    predictor = _predictor(model, _blobs())
    session = predictor.new_session()
    assert session.undo() is None and not session.can_undo
    first = session.add_click(40, 50)
    second = session.add_click(70, 20, positive=False)
    assert session.result is second
    restored = session.undo()
    # History is stored packed, so undo gives an equal result, not the same object.
    assert np.array_equal(restored.mask, first.mask) and restored.offset == first.offset
    assert session.clicks == [Click(40, 50, True)] and session.result is restored
    # After undoing, the next click starts from the first state again: same as a fresh pair.
    again = session.add_click(70, 20, positive=False)
    assert np.array_equal(again.mask, second.mask) and again.window == second.window
    session.undo()
    assert session.undo() is None and session.clicks == [] and not session.can_undo


def test_reset_clears_everything(model):
    predictor = _predictor(model, _blobs())
    session = predictor.new_session()
    session.add_click(40, 50)
    session.add_click(70, 20, positive=False)
    session.reset()
    assert session.clicks == [] and session.result is None and not session.can_undo
    fresh = predictor.new_session().add_click(30, 30)
    assert np.array_equal(session.add_click(30, 30).mask, fresh.mask)


def test_set_clicks_replays_like_adding_one_by_one(model):
    predictor = _predictor(model, _blobs())
    clicks = [Click(40, 50, True), Click(70, 20, False), Click(20, 90, True)]
    stepwise = predictor.new_session()
    results = [stepwise.add_click(c.y, c.x, c.positive) for c in clicks]
    session = predictor.new_session()
    session.add_click(5, 5)
    replayed = session.set_clicks(clicks)
    assert session.clicks == clicks
    assert replayed.window == results[-1].window and np.array_equal(replayed.mask, results[-1].mask)
    # A moved/deleted point: replay the shorter set.
    shorter = session.set_clicks(clicks[:2])
    assert np.array_equal(shorter.mask, results[1].mask)
    # One undo returns to before the replay.
    session.undo()
    assert session.clicks == clicks
    assert session.set_clicks([]) is None and session.clicks == []


def test_start_from_mask_then_predict_and_click(model):
    image = _blobs()
    predictor = _predictor(model, image, window_policy=WindowPolicy(overhang=0, min_side=128, max_side=128, max_zoom=1, shrink=False))
    calls = _spy(predictor)
    session = predictor.new_session()
    seed = np.zeros((20, 30), bool)
    seed[4:16, 5:25] = True
    session.start_from_mask(seed, offset=(30, 40))
    full_seed = np.zeros(image.shape, bool)
    full_seed[34:46, 45:65] = True
    assert np.array_equal(session.result.to_full(image.shape), full_seed)
    assert session.clicks == [] and session.can_undo and not calls  # seeding decodes nothing
    predicted = session.predict()
    window, ref = calls[-1]
    y0, _, x0, _ = window
    local_seed = full_seed[y0 : y0 + ref.shape[0], x0 : x0 + ref.shape[1]]
    assert torch.equal(ref[torch.from_numpy(local_seed)].unique(), torch.tensor([LIKELY_FG], dtype=torch.uint8))
    assert torch.equal(ref[~torch.from_numpy(local_seed)].unique(), torch.tensor([LIKELY_BG], dtype=torch.uint8))
    assert predicted.mask.dtype == bool
    session.add_click(40, 55, positive=False)
    # The window is the whole image here (min_side 128), so the maps line up directly:
    # the seed's R absorbed the prediction, then the click disk is painted on top.
    assert calls[-1][0] == window == (0, 96, 0, 112)
    expected = update_reference_map(ref, torch.from_numpy(predicted.mask))
    paint_click(expected, 40, 55, False, model.config.click_radius)
    assert torch.equal(calls[-1][1], expected)
    # A replay starts from the seed, not from scratch.
    session.set_clicks([])
    assert np.array_equal(session.result.to_full(image.shape), full_seed)
    session.undo()
    session.undo()
    assert np.array_equal(session.result.mask, predicted.mask) and session.result.offset == predicted.offset
    # Undoing the seed itself undoes it for later replays too.
    session.undo()
    session.undo()
    assert session.result is None and not session.can_undo
    assert session.set_clicks([]) is None
    calls.clear()
    session.set_clicks([Click(40, 55, True)])
    assert (calls[-1][1] != LIKELY_FG).all()  # no trace of the seed in R
    with pytest.raises(ValueError, match="lies outside the image"):
        session.start_from_mask(seed, offset=(500, 500))


def test_segment_convenience_and_same_key_keeps_cache(model):
    image = _blobs()
    predictor = _predictor(model)
    full = predictor.segment([(40, 50, True), (70, 20, False)], image=image)
    assert full.shape == image.shape and full.dtype == bool
    session = predictor.new_session()
    session.add_click(40, 50)
    assert np.array_equal(session.add_click(70, 20, False).to_full(image.shape), full)
    assert not predictor.segment([]).any()
    predictor.set_image(image, key="a")
    cache = predictor.cache
    predictor.set_image(image, key="a")
    assert predictor.cache is cache
    predictor.set_image(image, key="b")
    assert predictor.cache is not cache


def test_mask_result_helpers():
    mask = np.zeros((6, 8), bool)
    mask[2:4, 3:6] = True
    result = MaskResult(mask, (10, 20))
    assert result.window == (10, 16, 20, 28) and result.bbox == (12, 14, 23, 26) and result.area == 6
    cropped = result.cropped()
    assert cropped.offset == (12, 23) and cropped.mask.shape == (2, 3) and cropped.mask.all()
    empty = MaskResult(np.zeros((4, 4), bool), (0, 0))
    assert empty.empty and empty.bbox is None and empty.cropped().mask.shape == (0, 0)
    assert result.to_full((20, 30))[12:14, 23:26].all() and result.to_full((20, 30)).sum() == 6


class RecordingArray:
    """A numpy array that is not a numpy array: records every region read from it."""

    def __init__(self, array):
        self._array = array
        self.shape, self.dtype = array.shape, array.dtype
        self.reads: list[tuple[slice, slice]] = []

    def __getitem__(self, key):
        self.reads.append(key)
        return self._array[key]

    def pixels_read(self) -> int:
        return sum((k[0].stop - k[0].start) * (k[1].stop - k[1].start) for k in self.reads)


def test_lazy_image_is_read_only_where_needed(model):
    size = 2560  # > 4 Mpx: statistics come from an 8x8 grid of 128 px patches
    array = RecordingArray(np.random.default_rng(0).integers(0, 1000, (size, size), dtype=np.uint16))
    # One view: the mirrored view would read its window once more, on its own.
    predictor = _predictor(model, tile_size=64, halo=32, window_policy=WindowPolicy(
        overhang=0, min_side=64, max_side=64, max_zoom=1, shrink=False, mirror_average=False))
    predictor.set_image(array)
    assert len(array.reads) == 64 and array.pixels_read() == 64 * 128 * 128
    array.reads.clear()
    result = predictor.new_session().add_click(1300, 1300)
    assert result.window == (1264, 1328, 1264, 1328)
    # Only the tiles under the 64 px window, each with its 32 px halo: 2x2 tiles of 128 px.
    assert len(array.reads) == result.tiles_encoded == 4
    assert array.pixels_read() == 4 * 128 * 128
    for rows, cols in array.reads:
        assert 1280 - 64 - 32 <= rows.start and rows.stop <= 1280 + 64 + 32
        assert 1280 - 64 - 32 <= cols.start and cols.stop <= 1280 + 64 + 32


def test_dask_image_computes_only_needed_chunks(model):
    computed = []

    def make_chunk(block_info=None):
        info = block_info[None]
        computed.append(tuple(info["chunk-location"]))
        (y0, y1), (x0, x1) = info["array-location"]
        yy, xx = np.mgrid[y0:y1, x0:x1]
        return ((yy // 40 + xx // 40) % 2 * 400 + (yy * 7 + xx * 13) % 50).astype(np.uint16)

    size, chunk = 4096, 256
    image = da.map_blocks(make_chunk, chunks=((chunk,) * (size // chunk),) * 2, dtype=np.uint16,
                          meta=np.empty((0, 0), np.uint16))
    predictor = _predictor(model, tile_size=64, halo=32, window_policy=WindowPolicy(overhang=0, min_side=64, max_side=64, max_zoom=1, shrink=False))
    predictor.set_image(image)
    # Statistics read an 8x8 grid of 128 px patches: at most 4 chunks each, not all 256.
    assert len(set(computed)) <= 128
    computed.clear()
    predictor.new_session().add_click(1650, 2950)
    # Window rows 1616..1680, cols 2912..2976; its 2x2 tiles plus halo span rows 1568..1760,
    # cols 2848..3040: all inside chunk (6, 11).
    assert set(computed) == {(6, 11)}


def test_undo_history_is_bounded():
    rng = np.random.default_rng(0)
    predictor = Predictor(weights=None)
    predictor.set_image(rng.random((64, 64)).astype(np.float32))
    session = predictor.new_session()
    session.max_history = 3
    for i in range(6):
        session.add_click(10 + i, 20, True)
    steps = 0
    while session.can_undo:
        session.undo()
        steps += 1
    assert steps == 3
    assert len(session.clicks) == 3  # the three oldest states were dropped


def test_undo_history_is_packed_and_restores_exact_states(model):
    """Undo states are kept bit-packed and compressed (a 1024² window mask is 1 MB raw); undo
    gives back exactly the mask, reference map, window and timings that were there."""
    from napari_inter2former.session.object_session import _pack

    predictor = _predictor(model, _blobs((300, 320)),
                           window_policy=WindowPolicy(overhang=0, min_side=256, max_side=320, max_zoom=1, shrink=False))
    session = predictor.new_session()
    states = []
    for y, x, positive in [(40, 50, True), (70, 20, False), (150, 200, True)]:
        session.add_click(y, x, positive)
        st = session._state
        states.append((st.clicks, st.ref.clone(), st.window, st.result))
    packed = _pack(session._state)
    assert len(packed.ref[0]) + len(packed.mask[0]) < (session._state.ref.numel() + session.result.mask.size) / 4
    for clicks, ref, window, result in reversed(states[:-1]):
        back = session.undo()
        assert session._state.clicks == clicks and session._state.window == window
        assert session._state.ref.dtype == torch.uint8 and torch.equal(session._state.ref, ref)
        assert back.mask.dtype == bool and np.array_equal(back.mask, result.mask)
        assert back.offset == result.offset and back.latency_s == result.latency_s and back.extra == result.extra


def test_keyed_images_keep_their_tile_caches():
    rng = np.random.default_rng(1)
    a, b = rng.random((64, 64)).astype(np.float32), rng.random((64, 64)).astype(np.float32)
    predictor = Predictor(weights=None, max_images=2, window_policy=WindowPolicy(overhang=0, max_zoom=1, shrink=False))
    predictor.set_image(a, key="a")
    cache_a = predictor.cache
    predictor.new_session().add_click(30, 30)
    predictor.set_image(b, key="b")
    assert predictor.cache is not cache_a
    predictor.set_image(a, key="a")
    assert predictor.cache is cache_a and cache_a.tiles_encoded == 1  # not re-encoded
    predictor.set_image(b, key="b")
    predictor.set_image(rng.random((64, 64)).astype(np.float32), key="c")  # evicts "a"
    predictor.set_image(a, key="a")
    assert predictor.cache is not cache_a
    assert "random init" in predictor.weights_description


def test_clicked_pixels_always_take_their_label(model, monkeypatch):
    predictor = _predictor(model, _blobs())
    # A decoder that ignores clicks: all foreground, then all background.
    for value in (True, False):
        monkeypatch.setattr(predictor, "decode_window_logits",
                            lambda window, ref, progress=None, views=True, plain=None, v=value: torch.full(tuple(ref.shape), 8.0 if v else -8.0))
        session = predictor.new_session()
        session.add_click(40, 50)
        result = session.add_click(44, 52, positive=False)
        full = result.to_full(predictor.image_shape)
        assert full[40, 50] and not full[44, 52]
        # only the clicked pixels themselves: their neighbours keep the decoder's answer
        assert full[40, 51] == value and full[44, 53] == value


def test_a_border_object_is_decoded_in_a_window_past_the_border(model):
    # an object in the corner: its window reaches past the image (zeros there, as in training
    # crops); results stay inside the image and no tile of nothing past the border is encoded
    image = _blobs((200, 240))
    image[:30, :30] += 800
    policy = WindowPolicy(min_side=64, max_side=256, max_zoom=1, shrink=False, overhang=32)
    predictor = _predictor(model, image, window_policy=policy)
    calls = _spy(predictor)
    session = predictor.new_session()
    result = session.add_click(5, 5)
    window = calls[-1][0]
    assert window[0] < 0 and window[2] < 0
    assert result.offset[0] >= 0 and result.offset[1] >= 0
    assert result.window[1] <= 200 and result.window[3] <= 240
    assert result.to_full(image.shape).shape == image.shape
    assert all(ty >= 0 and tx >= 0 for ty, tx in predictor.cache._tiles)
    seed = np.zeros((20, 20), bool)
    seed[:10, :10] = True
    session.start_from_mask(seed, offset=(0, 0))
    assert session.result.offset == (0, 0) and session.result.mask.sum() == 100
    assert session.predict().offset[0] >= 0


def test_the_current_image_may_use_the_budget_the_others_do_not_hold():
    rng = np.random.default_rng(2)
    images = {k: rng.random((128, 192)).astype(np.float32) for k in "abc"}
    probe = Predictor(weights=None, tile_size=64, halo=16)
    probe.set_image(images["a"])
    probe.cache.window(0, 64, 0, 64)
    tile = probe.cache.cached_bytes  # one tile's features
    predictor = Predictor(weights=None, tile_size=64, halo=16, cache_bytes=4 * tile, max_images=4)
    predictor.set_image(images["a"], key="a")
    predictor.cache.window(0, 128, 0, 192)  # 6 tiles wanted: all 4 of the budget are kept, not a quarter
    assert predictor.cache.cached_bytes == 4 * tile
    cache_a = predictor.cache
    predictor.set_image(images["b"], key="b")  # "a" gives up tiles down to half the budget
    assert cache_a.cached_bytes == 2 * tile and predictor.cache.max_bytes == 2 * tile
    predictor.cache.window(0, 64, 0, 128)
    predictor.set_image(images["c"], key="c")
    held = sum(c.cached_bytes for _, c in predictor._images.values())
    assert held <= 4 * tile and predictor.cache.max_bytes >= 2 * tile
    predictor.cache.window(0, 128, 0, 128)
    assert sum(c.cached_bytes for _, c in predictor._images.values()) <= 4 * tile


def test_another_threads_image_switch_waits_for_a_click_to_end():
    # A first click decodes several windows (probes, native, magnified); a set_image from another
    # thread used to land between them, and the click returned a mask of the other image.
    import threading
    import time

    from napari_inter2former._sample_data import nuclei_2d
    from napari_inter2former.session import ClickError, Predictor

    image_a = nuclei_2d()[0][0]
    image_b = np.ascontiguousarray(image_a[::-1, ::-1])
    points = [(120, 85), (180, 180), (300, 300), (60, 250), (250, 60)]
    predictor = Predictor()  # shipped weights: masks that depend on the image
    predictor.set_image(image_a, key="A")
    reference = [predictor.new_session().add_click(*p).to_full(image_a.shape) for p in points]
    predictor.set_image(image_b, key="B")
    stop = threading.Event()

    def switching():
        while not stop.is_set():
            predictor.set_image(image_b, key="B")
            time.sleep(0.005)
            predictor.set_image(image_a, key="A")
            time.sleep(0.01)

    switcher = threading.Thread(target=switching)
    switcher.start()
    wrong = 0
    try:
        for _ in range(3):
            for point, expected in zip(points, reference):
                while True:
                    while predictor.image_key != "A":
                        time.sleep(0.0005)
                    try:  # a session begun on A, refused if B became current before its click
                        mask = predictor.new_session().add_click(*point).to_full(image_a.shape)
                        break
                    except ClickError:
                        continue
                wrong += not np.array_equal(mask, expected)
    finally:
        stop.set()
        switcher.join()
    assert wrong == 0


def test_clicks_as_pairs_offsets_and_ranges_are_checked():
    from napari_inter2former.session import ClickError, ImageError, Predictor

    image = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    predictor = Predictor(weights=None)
    predictor.set_image(image)
    session = predictor.new_session()
    assert session.set_clicks([(20, 20), (30, 30, False)]) is not None  # a pair is a positive click
    assert session.clicks[0].positive and not session.clicks[1].positive
    with pytest.raises(ClickError, match=r"a click is \(y, x\) or \(y, x, positive\)"):
        session.set_clicks([(1, 2, True, 4)])
    with pytest.raises(ValueError, match="two whole numbers"):
        predictor.new_session().start_from_mask(np.ones((4, 4), bool), offset=(1.7, 2.2))
    with pytest.raises(ValueError, match="two whole numbers"):
        predictor.new_session().start_from_mask(np.ones((4, 4), bool), offset=3)
    for bad in (5, (1,), ("a", "b"), (None, 3), (1, 2, 3)):
        with pytest.raises(ImageError, match="intensity_range must be two numbers"):
            predictor.set_image(image, key="k", intensity_range=bad)


def test_an_interrupted_prediction_leaves_no_undo_step(model):
    def ctrl_c(done, total):
        raise KeyboardInterrupt

    for start in ("add_click", "set_clicks", "predict"):
        session = _predictor(model, _blobs()).new_session()  # a fresh cache: the tiles report progress
        with pytest.raises(KeyboardInterrupt):
            if start == "add_click":
                session.add_click(40, 40, progress=ctrl_c)
            elif start == "set_clicks":
                session.set_clicks([(40, 40), (50, 50)], progress=ctrl_c)
            else:
                session.start_from_mask(np.ones((8, 8), bool), offset=(36, 36))
                history = len(session._history)
                session.predict(progress=ctrl_c)
        expected = history if start == "predict" else 0
        assert len(session._history) == expected and session.clicks == []


def test_coordinates_past_any_range_are_click_errors_not_overflows():
    from napari_inter2former.session import ClickError

    predictor = Predictor(weights=None)
    predictor.set_image(np.random.default_rng(1).random((64, 64)).astype(np.float32))
    session = predictor.new_session()
    with pytest.raises(ClickError, match="too large for the image of shape"):
        session.add_click(10**400, 5)
    for offset in ((10**20, 2), (2, -(10**20))):
        with pytest.raises(ValueError, match="lies outside the image"):
            session.start_from_mask(np.ones((5, 5), bool), offset)
    assert not session.can_undo


@pytest.mark.parametrize("argument, value", [("threads", 0), ("threads", -1), ("tile_size", 0), ("tile_size", -64),
                                             ("halo", -32), ("tile_size", 64.5)])
def test_predictor_arguments_out_of_range_are_named_at_once(model, argument, value):
    with pytest.raises(ValueError, match=f"{argument} must be a whole number of at least"):
        Predictor(weights=None, model=model, **{argument: value})


@pytest.mark.parametrize("field, value", [("stride", 0), ("min_side", 0), ("zoom_side", -1), ("overhang", -8),
                                          ("context", 0)])
def test_window_policy_values_out_of_range_are_refused(field, value):
    with pytest.raises(ValueError, match=f"WindowPolicy.{field} "):
        WindowPolicy(**{field: value})


def test_a_key_reused_for_an_image_of_another_shape_is_refused(model):
    from napari_inter2former.session import ImageError

    predictor = _predictor(model)
    predictor.set_image(_blobs((64, 80)), key="plane")
    with pytest.raises(ImageError, match=r"key 'plane' belongs to an image of shape \(64, 80\), not \(96, 112\)"):
        predictor.set_image(_blobs((96, 112)), key="plane")
    predictor.set_image(_blobs((64, 80), seed=1), key="plane")  # the same shape: the same image, as before
    assert predictor.image_shape == (64, 80)
