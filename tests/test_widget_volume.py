"""Stacks: predict on the displayed slice, carry objects through slices, nD and multi-channel data."""

from __future__ import annotations

import dask.array as da
import numpy as np
from conftest import (
    DiskPredictor,
    labels_of,
    notification_count,
    notifications_since,
    wait_idle,
)
from qtpy.QtCore import Qt

from napari_inter2former._sample_data import nuclei_3d
from napari_inter2former.journal import replay
from napari_inter2former.ui.layers import PREVIEW_NAME, PROMPTS_NAME


def _slice_of(viewer, axis=0):
    return int(viewer.dims.current_step[axis])


def test_carry_object_through_slices_keeps_its_id(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=5), volume, name="stack")
    prompts, preview, target = viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME], widget._target
    assert target.data.shape == volume.shape
    viewer.dims.set_current_step(0, 10)
    prompts.add([10, 64, 64])
    wait_idle(qtbot, widget)
    # prediction is on slice 10 only; the preview sits on that slice, window-sized
    assert preview.data.shape[0] == 1 and preview.translate[0] == 10
    widget.commit()
    assert labels_of(target.data[10]) == {1} and labels_of(target.data) == {1}

    handler = viewer.window._qt_viewer._key_map_handler
    handler.press_key("N")  # carry to slice 11 (previous mask as the prompt)
    wait_idle(qtbot, widget)
    assert _slice_of(viewer) == 11 and widget._obj.label_id == 1
    carried = widget._result.to_full(volume.shape[1:])
    np.testing.assert_array_equal(carried, target.data[10] == 1)
    prompts.add([11, 64, 80])  # a correction click on this slice only
    wait_idle(qtbot, widget)
    handler.press_key("C")
    assert labels_of(target.data[11]) == {1}
    assert (target.data[11] == 1).sum() > (target.data[10] == 1).sum()

    widget.carry_previous()  # from the last commit on slice 11 back to 10 ... and 9
    wait_idle(qtbot, widget)
    assert _slice_of(viewer) == 10
    assert widget.status_label.text().endswith("Shift+N to go on")  # the key that goes this way
    widget.commit()
    widget.carry_previous()
    wait_idle(qtbot, widget)
    widget.commit()
    assert [labels_of(target.data[z]) for z in (9, 10, 11)] == [{1}, {1}, {1}]
    assert labels_of(target.data) == {1}

    # a second object gets a new id, and carries with its own id
    viewer.dims.set_current_step(0, 5)
    prompts.add([5, 20, 20])
    wait_idle(qtbot, widget)
    widget.carry_next()
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(target.data[5]) == {2} and labels_of(target.data[6]) == {2}

    # the journal rebuilds the whole volume, from the stored masks and from the prompts
    np.testing.assert_array_equal(replay(widget.journal_path), np.asarray(target.data))
    rebuilt = replay(widget.journal_path, image=volume, mode="predict", predictor=DiskPredictor(grow=5))
    np.testing.assert_array_equal(rebuilt, np.asarray(target.data))


def test_carry_through_n_slices_in_the_worker(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6, shrink=2), volume)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    widget.centre_click_check.setChecked(False)  # the previous mask alone is the prompt
    viewer.dims.set_current_step(0, 2)
    prompts.add([2, 60, 60])
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.carry_through(20)  # commits slice 2, then carries; erosion makes the object vanish
    assert widget.busy
    wait_idle(qtbot, widget)
    carried = [z for z in range(volume.shape[0]) if 1 in labels_of(target.data[z])]
    assert carried[0] == 2 and carried == list(range(2, carried[-1] + 1))
    assert 3 <= len(carried) < 20
    areas = [(target.data[z] == 1).sum() for z in carried]
    assert areas == sorted(areas, reverse=True)
    assert any("vanished" in m for m in notifications_since(start))
    assert labels_of(target.data) == {1}
    widget.undo()  # the whole carry run is one undo step
    assert [z for z in range(volume.shape[0]) if 1 in labels_of(target.data[z])] == [2]
    widget.redo()
    assert [z for z in range(volume.shape[0]) if 1 in labels_of(target.data[z])] == carried
    rebuilt = replay(widget.journal_path, image=volume, mode="predict", predictor=DiskPredictor(grow=6, shrink=2))
    np.testing.assert_array_equal(rebuilt, np.asarray(target.data))


def test_carry_run_can_be_cancelled(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6, delay_s=0.15), volume)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    prompts.add([0, 60, 60])
    wait_idle(qtbot, widget)
    progress = []
    widget._worker.progress.connect(lambda job, done, total: progress.append((done, total)))
    widget.carry_through(23)
    qtbot.waitUntil(lambda: len(progress) >= 3, timeout=10000)
    start = notification_count()
    qtbot.mouseClick(widget.cancel_button, Qt.MouseButton.LeftButton)  # the button, as a user does
    wait_idle(qtbot, widget)
    assert not any("failed" in m for m in notifications_since(start))
    done = [z for z in range(volume.shape[0]) if 1 in labels_of(target.data[z])]
    assert 2 <= len(done) < 24 and done == list(range(len(done)))
    assert progress[0][1] == 23
    # the UI works on: clicking again after the cancel
    viewer.dims.set_current_step(0, 20)
    prompts.add([20, 30, 30])
    wait_idle(qtbot, widget)
    assert widget._result is not None and not widget._result.empty


def test_4d_and_5d_data_predict_on_the_displayed_plane(qtbot, open_widget):
    rng = np.random.default_rng(1)
    data4 = rng.integers(0, 200, size=(2, 3, 64, 64), dtype=np.uint8)
    viewer, widget = open_widget(DiskPredictor(grow=4), data4, name="4d")
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 2)
    prompts.add([1, 2, 30, 30])
    wait_idle(qtbot, widget)
    viewer.dims.set_current_step(1, 0)
    start = notification_count()
    prompts.add([1, 0, 40, 40])  # another slice: refused, and the message names both axes
    assert any("on slice axis 0=1, axis 1=2" in m for m in notifications_since(start))  # napari's "-4", "-3"
    viewer.dims.axis_labels = ("t", "z", "y", "x")
    start = notification_count()
    prompts.add([1, 0, 40, 40])
    assert any("on slice t=1, z=2" in m for m in notifications_since(start))
    widget.commit()
    assert target.data.shape == data4.shape
    assert labels_of(target.data[1, 2]) == {1} and labels_of(target.data) == {1}

    # 5-D (C, T, Z, Y, X), dask-backed, with the channel axis chosen in the widget
    data5 = da.from_array(rng.integers(0, 200, size=(2, 2, 3, 64, 64), dtype=np.uint16), chunks=(1, 1, 1, 64, 64))
    layer = viewer.add_image(data5, name="5d")
    widget.set_image_layer(layer)
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(0))
    widget.channel_combo.setCurrentIndex(widget.channel_combo.findData(1))
    widget.set_target(None)
    viewer.dims.set_current_step(2, 1)
    prompts = viewer.layers[PROMPTS_NAME]
    start = notification_count()
    prompts.add([0, 0, 1, 10, 50])
    wait_idle(qtbot, widget)
    assert widget._obj.spec.index[:3] == (1, 0, 1)  # channel 1 of axis 0, t=0, z=1
    widget.commit()
    target5 = widget._target
    assert target5.data.shape == (2, 3, 64, 64)  # the leading channel axis is not in the labels
    assert labels_of(target5.data[0, 1]) == {1} and labels_of(target5.data) == {1}
    assert not any("error" in m.lower() for m in notifications_since(start))

    # 3-D rendering: a clear message instead of a click
    viewer.dims.ndisplay = 3
    start = notification_count()
    prompts.add([0, 0, 1, 40, 40])
    assert any("2-D" in m for m in notifications_since(start))
    assert len(prompts.data) == 0


def test_rgb_image(qtbot, open_widget):
    rgb = np.zeros((80, 90, 3), np.uint8)
    rgb[20:40, 30:60] = (200, 40, 10)
    rgb[::7] += 5
    viewer, widget = open_widget(DiskPredictor(grow=3), rgb, rgb=True, name="rgb")
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    assert prompts.ndim == 2 and target.data.shape == (80, 90)
    prompts.add([30, 45])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(target.data) == {1} and target.data[30, 45] == 1


def test_carrying_the_last_commit_starts_from_the_slice_on_screen(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6), volume)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    viewer.dims.set_current_step(0, 12)
    prompts.add([12, 64, 64])
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.carry_through(5)  # slices 13-17, the view ends on 17
    wait_idle(qtbot, widget)
    assert _slice_of(viewer) == 17
    assert widget.status_label.text() == "carry: 5/5 slices, all done"
    assert any(m.startswith("Label 1 carried to slices 13-17: all done. Scroll") for m in notifications_since(start))
    after_run = np.asarray(target.data).copy()
    viewer.dims.set_current_step(0, 12)  # back to where it started, to go the other way
    widget.carry_previous()
    wait_idle(qtbot, widget)
    assert _slice_of(viewer) == 11 and widget._obj.spec.index[0] == 11
    widget.commit()
    assert 1 in labels_of(target.data[11])
    widget.carry_spin.setValue(30)
    qtbot.mouseClick(widget.carry_run_back_button, Qt.MouseButton.LeftButton)  # on down from 11
    wait_idle(qtbot, widget)
    assert _slice_of(viewer) == 0 and 1 in labels_of(target.data[10])
    assert widget.status_label.text() == "carry: 11/11 slices, reached the first slice"
    np.testing.assert_array_equal(target.data[12:], after_run[12:])  # done slices untouched
    # a slice without the label says so instead of carrying from elsewhere
    widget.undo()  # the run down from 11
    viewer.dims.set_current_step(0, 3)
    start = notification_count()
    widget.carry_next()
    assert any("Label 1 is not on this slice" in m for m in notifications_since(start))
    assert 1 not in labels_of(target.data[4])


def _one_click_on_slice(qtbot, open_widget, z):
    viewer, widget = open_widget(DiskPredictor(), nuclei_3d()[0][0], name="stack")
    viewer.dims.set_current_step(0, z)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([z, 22, 84])
    wait_idle(qtbot, widget)
    return viewer, widget, prompts


def test_the_3d_view_refuses_clicks_and_carries_with_a_plain_message(qtbot, open_widget):
    viewer, widget, prompts = _one_click_on_slice(qtbot, open_widget, 5)
    viewer.dims.ndisplay = 3
    start = notification_count()
    prompts.add([5, 40, 40])  # on the object's own slice, but the 3-D view decides the depth
    assert len(prompts.data) == 1 and len(widget._points.coords) == 1
    widget.commit()
    wait_idle(qtbot, widget)
    widget.carry_next()  # nothing in progress: carrying needs the slice on screen
    messages = notifications_since(start)
    assert any("switch off 3-D rendering (Ctrl+Y) to click" in m for m in messages)
    assert any(m.startswith("interactive segmentation works in the 2-D view") for m in messages)
    assert not any("failed" in m for m in messages)


def test_undoing_a_commit_shows_the_slice_the_object_comes_back_on(qtbot, open_widget):
    viewer, widget, prompts = _one_click_on_slice(qtbot, open_widget, 3)
    widget.commit()
    viewer.dims.set_current_step(0, 6)
    widget.undo()
    assert _slice_of(viewer) == 3
    start = notification_count()
    prompts.add([3, 30, 84])  # a second click on the object brought back: accepted
    wait_idle(qtbot, widget)
    assert len(widget._points.coords) == 2 and not notifications_since(start)


def test_a_target_scaled_otherwise_along_z_is_refused(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(), volume, name="stack", scale=(2.5, 1, 1))
    own = viewer.add_labels(np.zeros(volume.shape, np.uint16), name="mine")  # z scale 1: slices elsewhere
    start = notification_count()
    widget.set_target(own)
    assert widget._target is not own
    assert any("scale, position or units differ on some axis" in m for m in notifications_since(start))
    same = viewer.add_labels(np.zeros(volume.shape, np.uint16), name="same", scale=(2.5, 1, 1))
    widget.set_target(same)
    assert widget._target is same


def test_the_axis_order_is_part_of_the_object_and_of_its_undo(qtbot, open_widget):
    viewer, widget, prompts = _one_click_on_slice(qtbot, open_widget, 5)
    viewer.dims.order = (2, 0, 1)  # a z-y view while the x-y object is in progress
    start = notification_count()
    prompts.add([5, 40, int(viewer.dims.current_step[2])])
    assert len(widget._points.coords) == 1  # refused: not added to the hidden object
    assert any("lies in another orientation" in m for m in notifications_since(start))
    viewer.dims.order = (0, 1, 2)
    widget.commit()
    viewer.dims.order = (2, 0, 1)
    widget.undo()  # the object comes back on its x-y plane, shown again
    assert tuple(viewer.dims.order)[-2:] == (1, 2) and _slice_of(viewer) == 5
    start = notification_count()
    prompts.add([5, 30, 84])
    wait_idle(qtbot, widget)
    assert len(widget._points.coords) == 2 and not notifications_since(start)


def test_a_failed_redraw_leaves_no_pixels_behind(qtbot, open_widget, monkeypatch):
    viewer, widget, prompts = _one_click_on_slice(qtbot, open_widget, 4)
    target = widget._ensure_target()

    def broken(*args, **kwargs):  # napari's redraw failing after the pixels changed
        np.asarray(target.data)[args[0]] = args[1]
        raise ValueError("Data is too large")

    monkeypatch.setattr(target, "data_setitem", broken)
    start = notification_count()
    widget.commit()
    assert not np.asarray(target.data).any()
    assert any("could not be updated" in m and "nothing was written" in m for m in notifications_since(start))
    assert widget._obj is not None and not widget.history.last.name.startswith("commit")
    monkeypatch.undo()
    widget.commit()
    assert labels_of(np.asarray(target.data)[4]) == {1}  # the same id: the failed one was given back


def _press_while_predicting(qtbot, open_widget, keys, **disk):
    """Click on slice 10 of the sample stack and press `keys` before the prediction arrives."""
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(delay_s=0.3, **disk), volume, name="stack")
    widget.centre_click_check.setChecked(False)  # the carried mask alone prompts the next slice
    viewer.dims.set_current_step(0, 10)
    viewer.layers[PROMPTS_NAME].add([10, 64, 64])
    assert widget.busy
    start = notification_count()
    handler = viewer.window._qt_viewer._key_map_handler
    for key in keys:
        handler.press_key(key)
    qtbot.waitUntil(lambda: not widget.busy and not widget._settled, timeout=30000)
    return viewer, widget, notifications_since(start)


def test_carry_keys_pressed_during_a_prediction_each_carry_once(qtbot, open_widget):
    # N N N while the first click is predicted: three commits and carries, each on the slice
    # the one before reached (they used to run at once, and the second and third found no object).
    viewer, widget, notes = _press_while_predicting(qtbot, open_widget, "NNN", grow=6, shrink=3)
    data = np.asarray(widget._target.data)
    areas = [int((data[z] == 1).sum()) for z in range(data.shape[0])]
    assert [z for z, a in enumerate(areas) if a] == [10, 11, 12], notes
    assert areas[10] > areas[11] > areas[12]  # each carried slice is the previous mask, eroded
    assert widget._obj.spec.index[0] == 13 and _slice_of(viewer) == 13
    assert not any("not on this slice" in n for n in notes), notes


def test_commit_key_after_a_carry_key_commits_the_carried_object(qtbot, open_widget):
    _, widget, notes = _press_while_predicting(qtbot, open_widget, "NC", grow=6)
    data = np.asarray(widget._target.data)
    assert [z for z in range(data.shape[0]) if (data[z] == 1).any()] == [10, 11], notes
    assert widget._obj is None and not any("would be empty" in n for n in notes), notes


def test_carrying_shows_the_carried_plane_on_every_axis(qtbot, open_widget):
    # (T, Z, Y, X): the object is on t=1; the user looks at t=0, then carries along z.
    stack = nuclei_3d()[0][0][:10]
    viewer, widget = open_widget(DiskPredictor(grow=5), np.stack([stack, stack]), name="tz")
    prompts = viewer.layers[PROMPTS_NAME]
    viewer.dims.set_current_step(0, 1)
    viewer.dims.set_current_step(1, 3)
    prompts.add([1, 3, 64, 64])
    wait_idle(qtbot, widget)
    viewer.dims.set_current_step(0, 0)
    widget.carry_next()
    wait_idle(qtbot, widget)
    assert widget._obj.spec.index[:2] == (1, 4) and tuple(viewer.dims.current_step[:2]) == (1, 4)
    viewer.dims.set_current_step(0, 0)
    widget.carry_spin.setValue(2)
    widget.carry_through()
    qtbot.waitUntil(lambda: widget._carry_job is None and not widget.busy, timeout=30000)
    data = np.asarray(widget._target.data)
    assert [(t, z) for t in range(2) for z in range(10) if (data[t, z] == 1).any()] == [(1, 3), (1, 4), (1, 5), (1, 6)]
    assert tuple(viewer.dims.current_step[:2]) == (1, 6)


def test_deleting_the_carried_centre_click_predicts_from_the_mask_alone(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6, shrink=3), volume, name="stack")
    prompts = viewer.layers[PROMPTS_NAME]
    viewer.dims.set_current_step(0, 10)
    prompts.add([10, 64, 64])
    wait_idle(qtbot, widget)
    widget.carry_next()  # "Carry with a centre click" is on: previous mask + one positive point
    wait_idle(qtbot, widget)
    committed = np.asarray(widget._target.data[10]) == 1
    assert len(prompts.data) == 1
    with_centre = widget._result.to_full(volume.shape[1:])
    prompts.selected_data = {0}
    prompts.remove_selected()
    wait_idle(qtbot, widget)
    # The mask alone prompts the model (this decoder erodes the carried mask by 3 px); it used
    # to show the previous slice's mask unchanged, without running the model.
    alone = widget._result.to_full(volume.shape[1:])
    assert 0 < alone.sum() < committed.sum() and not np.array_equal(alone, committed)
    widget.undo()  # the centre point and its prediction come back
    wait_idle(qtbot, widget)
    assert len(prompts.data) == 1
    np.testing.assert_array_equal(widget._result.to_full(volume.shape[1:]), with_centre)


def test_the_widget_works_on_the_slice_napari_shows_between_two_z_steps(qtbot, open_widget):
    """A layer with half the z step puts the slider half-way between this stack's slices; napari
    rounds halves to even, and the widget used to round them up: it segmented and committed on
    slice 1 while slice 0 was on screen (QA pass)."""
    stack = np.zeros((10, 80, 80), np.uint16)
    for z in range(10):
        stack[z] = 10 * z + 5  # every slice tells its index
    stack[:, 30:50, 30:50] += 100
    viewer, widget = open_widget(DiskPredictor(), stack, name="coarse", scale=(0.3, 1, 1))
    viewer.add_image(np.zeros((20, 80, 80), np.uint16), name="fine", scale=(0.15, 1, 1))
    widget.set_image_layer(viewer.layers["coarse"])
    image = viewer.layers["coarse"]
    for step in range(8):
        viewer.dims.set_current_step(0, step)
        shown = (int(np.asarray(image._slice.image.raw)[0, 0]) - 5) // 10
        assert widget._shown_spec().index[0] == shown, step
    viewer.dims.set_current_step(0, 1)  # data z 0.5: napari shows slice 0
    shown = (int(np.asarray(image._slice.image.raw)[0, 0]) - 5) // 10
    viewer.layers[PROMPTS_NAME].add(image.data_to_world([0.5, 40, 40]))
    wait_idle(qtbot, widget)
    widget.commit()
    assert shown == 0 and sorted(set(np.nonzero(widget._target.data)[0])) == [0]


def test_an_undo_across_a_channel_change_shows_the_objects_channel(qtbot, open_widget):
    """Undo brought back the object on channel 0 while the box still said channel 1, and later
    clicks refined the hidden channel (QA pass)."""
    stack = np.zeros((2, 100, 100), np.uint8)
    stack[0, 20:40, 20:40] = 200
    stack[1, 50:80, 50:80] = 200
    viewer, widget = open_widget(DiskPredictor(), stack, name="cyx")
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(0))
    widget.channel_combo.setCurrentIndex(widget.channel_combo.findData(0))
    prompts = viewer.layers[PROMPTS_NAME]
    for point in ([0, 30, 30], [0, 32, 32]):
        prompts.add(point)
        wait_idle(qtbot, widget)
    widget.channel_combo.setCurrentIndex(widget.channel_combo.findData(1))
    wait_idle(qtbot, widget)
    assert widget._obj.spec.index[0] == 1
    widget.undo()
    wait_idle(qtbot, widget)
    assert widget._obj.spec.index[0] == 0 and widget.channel_index == 0


def test_carrying_after_the_view_turned_and_after_undoing_a_commit(qtbot, open_widget):
    """N from a side view (z-y) said the stack had no slice axis, and N after undoing back to a
    committed label said there was nothing to carry (QA pass)."""
    volume = nuclei_3d()[0][0][:, :90, :]
    viewer, widget = open_widget(DiskPredictor(grow=4), volume, name="stack")
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    viewer.dims.set_current_step(0, 5)
    prompts.add([5, 30, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    viewer.dims.order = (2, 0, 1)  # the stack seen from the side, at x = 127 (its last column)
    viewer.dims.set_current_step(2, 127)
    start = notification_count()
    widget.carry_next()
    wait_idle(qtbot, widget)
    assert not any("no slice axis" in m or "Already at" in m for m in notifications_since(start))
    assert widget._obj is not None and widget._obj.spec.index[0] == 6  # carried along z from slice 5
    assert tuple(viewer.dims.order[-2:]) == (1, 2)  # the y-x view is back, on slice 6
    widget.commit()
    assert 1 in labels_of(target.data[6])
    # a second object, committed then undone twice (commit, click): label 1 is the last commit again
    viewer.dims.set_current_step(0, 10)
    prompts.add([10, 30, 30])
    wait_idle(qtbot, widget)
    widget.commit()
    widget.undo()
    widget.undo()
    viewer.dims.set_current_step(0, 6)
    start = notification_count()
    widget.carry_next()
    wait_idle(qtbot, widget)
    assert not any("Nothing to carry" in m for m in notifications_since(start))
    assert widget._obj is not None and widget._obj.label_id == 1 and widget._obj.spec.index[0] == 7


def test_points_added_together_on_two_slices_are_refused_with_both_named(qtbot, open_widget):
    viewer, widget = open_widget(DiskPredictor(), nuclei_3d()[0][0], name="stack")
    start = notification_count()
    viewer.layers[PROMPTS_NAME].add(np.array([[5, 30, 30], [6, 30, 30]]))
    messages = notifications_since(start)
    assert any("these points lie on slices 5, 6: an object lives on one slice" in m for m in messages), messages
    assert widget._obj is None and len(widget._points.coords) == 0
