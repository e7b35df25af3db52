"""Coarser levels of a multiscale labels target follow commits to full resolution."""

from __future__ import annotations

import numpy as np
from conftest import DiskPredictor, wait_idle

from napari_inter2former.journal.planes import PlaneSpec
from napari_inter2former.ui.layers import PROMPTS_NAME
from napari_inter2former.ui.pyramid import update_lower_levels


def test_box_is_copied_down_by_striding():
    base = np.zeros((2, 64, 96), np.uint16)
    levels = [base, np.zeros((2, 32, 48), np.uint16), np.zeros((2, 16, 24), np.uint16)]
    spec = PlaneSpec((1, None, None), 1, 2)
    base[1, 10:30, 21:50] = 7
    assert update_lower_levels(levels, spec, (10, 30, 21, 50))
    np.testing.assert_array_equal(levels[1][1], base[1, ::2, ::2])
    np.testing.assert_array_equal(levels[2][1], base[1, ::4, ::4])
    assert not levels[1][0].any() and not levels[2][0].any()  # other planes untouched


def test_views_are_skipped_and_foreign_layouts_refused():
    base = np.zeros((64, 64), np.uint8)
    views = [base, base[::2, ::2], base[::4, ::4]]
    base[4:9, 4:9] = 3
    assert update_lower_levels(views, PlaneSpec((None, None), 0, 1), (4, 9, 4, 9))
    z_halved = [np.zeros((4, 64, 64), np.uint8), np.zeros((2, 32, 32), np.uint8)]
    assert not update_lower_levels(z_halved, PlaneSpec((0, None, None), 1, 2), (0, 8, 0, 8))
    assert not z_halved[1].any()


def test_commit_and_undo_reach_every_level_of_a_users_pyramid(qtbot, open_widget):
    image = np.random.default_rng(0).integers(0, 50, (256, 256)).astype(np.uint8)
    viewer, widget = open_widget(DiskPredictor(grow=6), image, name="cells")
    levels = [np.zeros((256, 256), np.uint16), np.zeros((128, 128), np.uint16), np.zeros((64, 64), np.uint16)]
    target = viewer.add_labels(levels, multiscale=True, name="pyramid")
    widget.set_target(target)
    viewer.layers[PROMPTS_NAME].add([100, 120])
    wait_idle(qtbot, widget)
    widget.commit()
    full = np.asarray(target.data[0])
    assert (full == 1).sum() > 50
    np.testing.assert_array_equal(np.asarray(target.data[1]), full[::2, ::2])
    np.testing.assert_array_equal(np.asarray(target.data[2]), full[::4, ::4])
    widget.undo()
    assert not any(np.asarray(level).any() for level in target.data)
