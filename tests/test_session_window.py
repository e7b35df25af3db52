"""WindowPolicy: choosing, keeping and growing decoding windows; which edges a mask touches."""

from __future__ import annotations

import numpy as np
import pytest

from napari_inter2former.session.window import WindowPolicy, mask_touches_edges

POLICY = WindowPolicy(overhang=0, stride=8, min_side=64, max_side=256, context=2.0, keep_margin=16, max_zoom=1, shrink=False)


def test_choose_centres_a_min_side_window_on_a_small_focus():
    window = POLICY.choose((100, 110, 200, 210), (1000, 1000))
    assert window == (72, 136, 168, 232)
    assert all(v % 8 == 0 for v in window)


def test_choose_uses_context_and_caps_at_max_side():
    assert POLICY.choose((100, 160, 100, 140), (1000, 1000)) == (64, 184, 56, 176)  # side 2 x 60 = 120
    y0, y1, x0, x1 = POLICY.choose((0, 400, 0, 10), (1000, 1000))
    assert (y1 - y0, x1 - x0) == (256, 256)


def test_choose_stays_inside_the_padded_image():
    assert POLICY.choose((0, 5, 0, 5), (1000, 1000))[::2] == (0, 0)
    y0, y1, x0, x1 = POLICY.choose((995, 1000, 995, 1000), (1000, 1000))
    assert (y1, x1) == (1000, 1000)
    # Smaller than min_side: the whole image, padded up to the stride.
    assert POLICY.choose((10, 20, 10, 20), (50, 30)) == (0, 56, 0, 32)


def test_current_window_is_kept_while_the_focus_fits_with_margin():
    current = (64, 192, 64, 192)
    assert POLICY.choose((100, 150, 100, 150), (1000, 1000), current) == current
    # Too close to the bottom edge (margin 16): a new window.
    assert POLICY.choose((100, 180, 100, 150), (1000, 1000), current) != current
    # On the image border the margin is not needed.
    assert POLICY.choose((0, 40, 0, 40), (1000, 1000), (0, 64, 0, 64)) == (0, 64, 0, 64)


def test_grow_on_touched_sides_only():
    window = (128, 192, 128, 192)
    assert POLICY.grow(window, (True, False, False, False), (1000, 1000)) == (96, 192, 128, 192)
    assert POLICY.grow(window, (False, True, False, True), (1000, 1000)) == (128, 224, 128, 224)
    assert POLICY.grow(window, (True, True, True, True), (1000, 1000)) == (96, 224, 96, 224)


def test_grow_is_capped_by_image_and_max_side():
    assert POLICY.grow((0, 64, 0, 64), (True, False, True, False), (1000, 1000)) is None
    assert POLICY.grow((936, 1000, 0, 64), (False, True, False, False), (1000, 1000)) is None
    # Both sides moved past the cap: centred on the grown span.
    assert POLICY.grow((200, 392, 100, 164), (True, True, False, False), (1000, 1000)) == (168, 424, 100, 164)
    # Full-size window touching both sides: nowhere to go.
    assert POLICY.grow((256, 512, 0, 64), (True, True, False, False), (1000, 1000)) is None


def test_capped_growth_on_one_side_does_not_slide_away():
    """Regression: a capped one-sided growth used to centre the window on the grown span, which
    slid it away from the clicks (an object longer than max_side, clicked near one end)."""
    assert POLICY.grow((256, 448, 0, 64), (False, True, False, False), (1000, 1000)) == (256, 512, 0, 64)
    assert POLICY.grow((256, 448, 0, 64), (True, False, False, False), (1000, 1000)) == (192, 448, 0, 64)
    assert POLICY.grow((256, 512, 0, 64), (False, True, False, False), (1000, 1000)) is None
    assert POLICY.grow((0, 64, 300, 556), (False, False, True, False), (1000, 1000)) is None
    # At the image border the "moved" side is the one that could move.
    assert POLICY.grow((0, 192, 0, 64), (True, True, False, False), (1000, 1000)) == (0, 256, 0, 64)


def test_full_size_window_touching_everywhere_does_not_drift():
    """Regression: a max_side window whose grown span was clipped by the image border was
    re-centred a few pixels further in at every step (4 useless re-decodes per click)."""
    policy = WindowPolicy(overhang=0, stride=8, min_side=512, max_side=512, max_zoom=1, shrink=False)
    assert policy.grow((264, 776, 304, 816), (True, True, True, True), (1024, 1024)) is None
    # Below the cap, growth on both sides keeps the current window inside the capped one.
    y0, y1, x0, x1 = POLICY.grow((8, 200, 8, 72), (True, True, False, False), (1000, 1000))
    assert y1 - y0 == 256 and y0 <= 8 and y1 >= 200


def test_mask_touches_edges_ignores_image_borders():
    mask = np.zeros((64, 64), bool)
    mask[0, 10] = mask[30, -1] = True
    assert mask_touches_edges(mask, (64, 128, 64, 128), (1000, 1000), 8) == (True, False, False, True)
    assert mask_touches_edges(mask, (0, 64, 936, 1000), (1000, 1000), 8) == (False, False, False, False)
    # An image side that is not a multiple of the stride: its padded border is still a border.
    assert mask_touches_edges(mask, (0, 64, 0, 64), (60, 60), 8) == (False, False, False, False)


def test_windows_may_reach_past_the_border_by_the_overhang():
    policy = WindowPolicy(stride=8, min_side=64, max_side=256, max_zoom=1, shrink=False, overhang=32, context=2.0)
    # an object in the top-left corner: the window is centred on it as far as the overhang allows
    assert policy.choose((0, 10, 0, 10), (200, 300)) == (-32, 32, -32, 32)
    assert policy.choose((190, 200, 290, 300), (200, 300)) == (160, 224, 256, 320)
    # growing stops at the overhang, and a window wider than the image plus overhang is cut
    assert policy.grow((-32, 32, -32, 32), (True, True, True, True), (200, 300)) == (-32, 64, -32, 64)
    assert policy.choose((0, 100, 0, 10), (100, 300)) == (-32, 136, -32, 168)  # 168 = 104 + 2 x 32


def test_masks_are_cleared_and_cut_at_the_image_border():
    from napari_inter2former.session.window import clear_outside_image, crop_to_image

    window, hw = (-8, 24, 40, 72), (20, 60)  # 8 rows above the image, 4 below, 12 columns past it
    mask = clear_outside_image(np.ones((32, 32), bool), window, hw)
    assert mask[8:28, :20].all() and mask.sum() == 20 * 20
    crop, offset = crop_to_image(mask, window, hw)
    assert offset == (0, 40) and crop.shape == (20, 20) and crop.all()


def test_policy_overrides_parse_to_typed_field_values():
    assert WindowPolicy.parse_overrides("") == {}
    parsed = WindowPolicy.parse_overrides("context=2.0,probe_levels=1,vertical_mirror=TRUE,mirror_average=no")
    assert parsed == {"context": 2.0, "probe_levels": 1, "vertical_mirror": True, "mirror_average": False}
    assert WindowPolicy(**parsed).flip_views() == []  # no vertical views without the left-right one
    assert WindowPolicy(vertical_mirror=True).flip_views() == [(-1,), (-2,), (-2, -1)]
    with pytest.raises(ValueError, match="'zoom' is not a WindowPolicy field"):
        WindowPolicy.parse_overrides("zoom=2")
    with pytest.raises(ValueError):
        WindowPolicy.parse_overrides("probe_levels=two")
