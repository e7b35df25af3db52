"""Bad images and clicks give a clear exception type and message, and leave the session usable."""

from __future__ import annotations

import dask.array as da
import numpy as np
import pytest
import torch

from napari_inter2former.model import Inter2Former
from napari_inter2former.session import (
    Click,
    ClickError,
    ImageError,
    ImageSource,
    Predictor,
    WindowPolicy,
)


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return Predictor(weights=None, model=Inter2Former(), tile_size=64, halo=32,
                     window_policy=WindowPolicy(min_side=64, max_side=64, max_zoom=1, shrink=False))


def _image(shape=(64, 80)):
    return np.random.default_rng(0).random(shape).astype(np.float32)


@pytest.mark.parametrize("array, message", [
    (np.zeros(16), r"expected a 2-D image \(H, W\) or \(H, W, C\), got 1-D shape \(16,\)"),
    (np.zeros((2, 3, 16, 16)), r"got 4-D shape \(2, 3, 16, 16\); pass one slice of a volume"),
    (np.zeros((0, 0)), r"image of shape \(0, 0\) is too small: each side needs >= 8 px"),
    (np.ones((1, 1)), r"image of shape \(1, 1\) is too small"),
    (np.ones((4, 100)), r"image of shape \(4, 100\) is too small.*open the image with channel_axis"),
    (np.ones((3, 64, 64)), r"read as \(H, W, C\) with 64 channels: pass channel_axis=0"),
    (np.ones((20, 64, 64)), r"64 channels on a 20 x 64 image looks wrong; .*pass channel_axis=0"),
    (np.full((32, 32), 7, np.uint16), "image is constant .*nothing to segment"),
    (np.ones((32, 32), np.complex64), "unsupported image dtype complex64: use integer or floating point"),
    (np.full((32, 32), "a"), "unsupported image dtype <U1"),
    (np.zeros((32, 32, 0)), "image has no channels"),
    (torch.rand(32, 32), r"pass a numpy array \(for a torch tensor: tensor.numpy\(\)\)"),
])
def test_bad_image_is_rejected(predictor, array, message):
    with pytest.raises(ImageError, match=message):
        predictor.set_image(array)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_rejected(predictor, bad):
    image = _image()
    image[10, 20] = bad
    with pytest.raises(ImageError, match="image contains NaN or infinite values; replace them"):
        predictor.set_image(image)


def test_non_finite_value_outside_the_sampled_patches_is_caught_on_read():
    """A big lazy image is only sampled for its statistics; a NaN elsewhere surfaces at the click."""
    image = np.random.default_rng(1).random((2100, 2100)).astype(np.float32)
    image[1000, 1000] = np.nan  # between the 8x8 grid of 128 px statistics patches
    lazy = da.from_array(image, chunks=512)
    predictor = Predictor(weights=None, model=Inter2Former(), tile_size=64, halo=16,
                          window_policy=WindowPolicy(min_side=64, max_side=64, max_zoom=1, shrink=False))
    predictor.set_image(lazy)
    session = predictor.new_session()
    with pytest.raises(ImageError, match=r"region y \d+:\d+, x \d+:\d+ contains NaN or infinite values"):
        session.add_click(1000, 1000)
    assert session.result is None and not session.can_undo
    assert session.add_click(100, 100).mask.shape == (64, 64)  # elsewhere still works


@pytest.mark.parametrize("lazy", [False, True])
def test_big_sparse_image_is_not_called_constant(lazy):
    """A few small objects on a flat background can all fall between the sampled patches of a
    big image; the whole image is then read for its range instead of being refused."""
    image = np.zeros((2100, 2100), np.uint16)
    image[1000:1040, 1000:1040] = 3000  # between the 8x8 grid of 128 px statistics patches
    source = ImageSource(da.from_array(image, chunks=700) if lazy else image)
    assert float(source.low[0]) == 0.0 and float(source.high[0]) == 3000.0
    assert source.read(1000, 1008, 1000, 1008).min() == 1.0
    big_flat = np.full((2100, 2100), 5, np.uint16)
    with pytest.raises(ImageError, match="image is constant"):
        ImageSource(da.from_array(big_flat, chunks=700) if lazy else big_flat)


def test_a_few_channels_last_are_still_channels():
    source = ImageSource(np.random.default_rng(0).random((64, 64, 8)).astype(np.float32))
    assert source.channels == 8



@pytest.mark.parametrize("channels", [3, 4])
def test_a_channel_stack_is_the_maximum_of_its_channels_not_colour(channels):
    # Three or four stains chosen as "all" were read as RGB(A): a fourth was dropped as alpha.
    from napari_inter2former.journal import PlaneSpec, PlaneView

    stack = np.random.default_rng(0).random((channels, 64, 64)).astype(np.float32) * 0.01
    stack[-1, 20:40, 20:40] += 5.0  # an object in the last stain only
    colour_last = np.moveaxis(stack, 0, -1)
    for source in (ImageSource(stack, channel_axis=0),
                   ImageSource(PlaneView(stack, PlaneSpec((None, None, None), 1, 2, 0))),
                   ImageSource(PlaneView(stack[None], PlaneSpec((0, None, None, None), 2, 3, 1)))):
        assert not source.rgb
        normalised = source.read(0, 64, 0, 64)
        assert normalised[:, 30, 30].min() > 0.99  # the stain holding the object, in all three model channels
    assert ImageSource(colour_last).rgb  # trailing channels stay colour (RGBA: alpha dropped)
    rgb_layer_plane = PlaneView(colour_last[None], PlaneSpec((0, None, None, None), 1, 2, 3))
    assert ImageSource(rgb_layer_plane).rgb


def test_channel_axis_past_the_last_axis_is_rejected():
    with pytest.raises(ImageError, match="channel_axis 5 does not exist in a 3-D image"):
        ImageSource(np.zeros((16, 16, 3)), channel_axis=5)


def test_channel_axis_in_the_middle_is_rejected():
    with pytest.raises(ImageError, match="channel_axis must be first or last"):
        ImageSource(np.zeros((16, 3, 16)), channel_axis=1)


def test_bool_image_is_read_as_zero_and_one(predictor):
    """Accepted by design (ImageSource allows bool): a binary image is a valid picture."""
    image = np.zeros((48, 48), bool)
    image[10:30, 12:40] = True
    predictor.set_image(image)
    region = predictor.source.read(0, 48, 0, 48)
    assert region.min() == 0.0 and region.max() == 1.0
    assert np.array_equal(region[0] > 0.5, image)
    assert predictor.new_session().add_click(20, 20).mask.dtype == bool


def test_failed_set_image_keeps_the_previous_image(predictor):
    predictor.set_image(_image((40, 56)))
    with pytest.raises(ImageError):
        predictor.set_image(np.zeros((3, 3)))
    assert predictor.image_shape == (40, 56)


def test_no_image_set():
    predictor = Predictor(weights=None, model=Inter2Former())
    assert not predictor.has_image
    with pytest.raises(ClickError, match=r"no image set: call set_image\(\) first"):
        predictor.new_session()
    with pytest.raises(ClickError, match="no image set"):
        predictor.image_shape
    with pytest.raises(ClickError, match="no image set"):
        predictor.decode_window((0, 8, 0, 8), torch.zeros(8, 8, dtype=torch.uint8))


@pytest.mark.parametrize("y, x, message", [
    (-1, 5, r"click \(-1, 5\) is outside the image of shape \(64, 80\)"),
    (64, 5, r"click \(64, 5\) is outside the image"),
    (5, 80, r"click \(5, 80\) is outside the image"),
    (5, -0.6, r"click \(5, -1\) is outside the image"),  # rounds to the pixel first
    (np.nan, 3, r"click \(nan, 3\) has a non-finite coordinate"),
    (3, np.inf, r"click \(3, inf\) has a non-finite coordinate"),
])
def test_click_outside_the_image(predictor, y, x, message):
    predictor.set_image(_image())
    session = predictor.new_session()
    with pytest.raises(ClickError, match=message):
        session.add_click(y, x)
    with pytest.raises(ClickError, match=message):
        session.set_clicks([Click(10, 10), Click(y, x)])
    # Nothing happened: no clicks, no result, nothing to undo.
    assert session.clicks == [] and session.result is None and not session.can_undo


@pytest.mark.parametrize("y, x, positive, message", [
    (None, 3, True, r"click \(None, 3\) needs numeric coordinates"),
    ("a", 3, True, "needs numeric coordinates"),
    (5, 5, "False", r"polarity must be True or False, got 'False'"),
    (5, 5, 2, "polarity must be True or False, got 2"),
])
def test_click_of_the_wrong_type(predictor, y, x, positive, message):
    predictor.set_image(_image())
    session = predictor.new_session()
    with pytest.raises(ClickError, match=message):
        session.add_click(y, x, positive)
    assert session.clicks == [] and not session.can_undo


def test_clicks_may_be_given_as_tuples(predictor):
    predictor.set_image(_image())
    session = predictor.new_session()
    session.set_clicks([(10, 12, True), (20, 30, False)])
    assert session.clicks == [Click(10, 12, True), Click(20, 30, False)]


def test_a_session_refuses_work_after_the_image_changed(predictor):
    predictor.set_image(_image())
    session = predictor.new_session()
    session.add_click(10, 10)
    predictor.set_image(_image((48, 48)))
    for call in (lambda: session.add_click(20, 20), session.predict, session.undo, lambda: session.set_clicks([]),
                 lambda: session.start_from_mask(np.ones((4, 4), bool))):
        with pytest.raises(ClickError, match="image changed since this object began"):
            call()
    assert session.clicks == [Click(10, 10)]  # the object's own state is kept
    predictor.new_session().add_click(20, 20)  # the new image works


def test_a_keyed_image_coming_back_is_the_same_image(predictor):
    image = _image()
    predictor.set_image(image, key="a")
    session = predictor.new_session()
    session.add_click(10, 10)
    predictor.set_image(_image((48, 48)), key="b")
    predictor.set_image(image, key="a")  # back: the session goes on
    assert session.add_click(20, 20).mask is not None and len(session.clicks) == 2


def test_failed_click_leaves_earlier_clicks_alone(predictor):
    predictor.set_image(_image())
    session = predictor.new_session()
    first = session.add_click(30, 30)
    with pytest.raises(ClickError):
        session.add_click(100, 100)
    assert session.clicks == [Click(30, 30, True)] and session.result is first


def test_predict_without_prompts_and_bad_seed_masks(predictor):
    predictor.set_image(_image())
    session = predictor.new_session()
    with pytest.raises(ClickError, match="nothing to predict from: add a click or start from a mask"):
        session.predict()
    with pytest.raises(ValueError, match="the starting mask is empty"):
        session.start_from_mask(np.zeros((10, 10), bool))
    with pytest.raises(ValueError, match=r"a starting mask must be 2-D, got shape \(4, 4, 2\)"):
        session.start_from_mask(np.ones((4, 4, 2), bool))
    assert not session.can_undo


@pytest.mark.parametrize("offset, gain", [(1e9, 1.0), (1e6, 1e-3), (0.0, 1e37)])
def test_wide_float_and_int_images_normalise_like_their_signal(offset, gain):
    # A float32 cast before subtracting the offset flattened such images (and 1e39 read as inf).
    rng = np.random.default_rng(0)
    signal = rng.integers(0, 256, (64, 64)).astype(np.float64)
    reference = ImageSource(signal.astype(np.uint8)).read(0, 64, 0, 64)
    wide = ImageSource(offset + signal * gain * (100.0 if gain > 1e30 else 1.0)).read(0, 64, 0, 64)
    assert wide.dtype == np.float32
    np.testing.assert_allclose(wide, reference, atol=1e-3)
    if offset == 1e9:
        as_int = ImageSource((signal + 2**40).astype(np.int64)).read(0, 64, 0, 64)
        np.testing.assert_allclose(as_int, reference, atol=1e-3)



@pytest.mark.parametrize("dtype, limit", [(np.float64, 1.7e308), (np.float32, 3.4e38)])
def test_values_near_the_dtypes_limits_normalise_without_overflow(dtype, limit):
    # The spread high - low overflowed to inf: the object read as NaN and the click gave 1 px.
    yy, xx = np.mgrid[:64, :64]
    disk = (yy - 32) ** 2 + (xx - 32) ** 2 < 200
    image = np.where(disk, limit, -limit).astype(dtype)
    with np.errstate(over="raise", invalid="raise"):
        source = ImageSource(image)
        normalised = source.read(0, 64, 0, 64)
    np.testing.assert_array_equal(normalised[0], disk.astype(np.float32))


def test_percentiles_do_not_depend_on_where_the_objects_sit():
    # A big in-memory image was sampled in 64 patches at fixed places: the same objects elsewhere
    # on the canvas gave other percentiles, so other masks. A planar view reads the same way.
    from napari_inter2former.journal import PlaneSpec, PlaneView

    content = np.random.default_rng(1).gamma(2.0, 100.0, (400, 400)).astype(np.float32)
    ranges = []
    for y, x in [(100, 100), (700, 1300), (1500, 260)]:
        canvas = np.full((2200, 2200), 10.0, np.float32)  # 4.8 Mpx: past the direct-read size
        canvas[y:y + 400, x:x + 400] = content
        for array in (canvas, PlaneView(canvas[None], PlaneSpec((0, None, None), 1, 2))):
            source = ImageSource(array)
            ranges.append((float(source.low[0]), float(source.high[0])))
    assert len(set(ranges)) == 1, ranges


def test_the_command_lines_random_weights_word_is_explained():
    with pytest.raises(ValueError, match="pass weights=None"):
        Predictor(weights="random")


def test_a_given_intensity_range_is_checked_and_keyed():
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    for bad in [(5, 5), (1, 0), (float("nan"), 1), ("low", 1), (1,)]:
        with pytest.raises(ImageError, match="intensity_range"):
            ImageSource(image, intensity_range=bad)
    predictor = Predictor(weights=None)
    predictor.set_image(image, key="plane", intensity_range=(0.0, 0.5))
    first = predictor._source
    predictor.set_image(image, key="plane", intensity_range=(0.0, 0.25))  # same key, other range
    assert predictor._source is not first and float(predictor._source.high[0]) == 0.25
    predictor.set_image(image, key="plane", intensity_range=(0.0, 0.5))
    assert predictor._source is first  # kept in the keyed cache


def test_an_intensity_range_that_collapses_in_the_images_precision_is_refused():
    image = np.random.default_rng(0).random((32, 32)).astype(np.float32)
    for bad in [(100000.0, 100000.001), (-1e39, 1e39)]:  # equal, or infinite, once float32
        with pytest.raises(ImageError, match="intensity_range"):
            ImageSource(image, intensity_range=bad)
