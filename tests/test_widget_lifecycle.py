"""The widget when layers come and go under it: image switches and removals, closing the dock,
carry runs interrupted, a pending commit, and the target a new image or channel axis needs."""

from __future__ import annotations

import numpy as np
from conftest import (
    DiskPredictor,
    labels_of,
    notification_count,
    notifications_since,
    wait_idle,
)

from napari_inter2former._sample_data import nuclei_3d
from napari_inter2former.ui.layers import PREVIEW_NAME, PROMPTS_NAME, same_layer


def _ours(viewer) -> list[str]:
    return [layer.name for layer in viewer.layers if layer.name.startswith(("inter2former",))]


def test_removing_the_image_moves_one_pair_of_layers_to_the_next(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    viewer.add_image(np.ascontiguousarray(nuclei[::-1]), name="B")
    widget.set_image_layer(viewer.layers["A"])
    viewer.layers.remove("A")
    assert same_layer(widget._image, viewer.layers["B"])
    # exactly one prompts and one preview layer, and they are the live ones
    assert sorted(_ours(viewer)) == sorted([PREVIEW_NAME, PROMPTS_NAME])
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    assert widget._result is not None and not widget._result.empty


def test_closing_the_dock_stops_the_widget(qtbot, make_napari_viewer, nuclei, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei, name="A")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.set_predictor(DiskPredictor())
    widget.journal_dir = tmp_path / "journals"
    target = widget._target
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(target.data) == {1}

    dock.destroyOnClose()  # what the dock's close button does
    assert widget._shut_down and not widget._worker.isRunning()
    assert _ours(viewer) == []  # prompts and preview go with it
    # napari's own brush and undo work on the target again: Ctrl+Z takes back the brush stroke,
    # not the widget's commit
    viewer.layers.selection.active = target
    target.paint((300, 300), 7)
    keys = viewer.window._qt_viewer._key_map_handler
    keys.press_key("Control-Z")
    keys.release_key("Control-Z")
    assert labels_of(target.data) == {1}

    # reopening continues in the same labels layer, with ids after the old ones
    _, again = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    again.set_predictor(DiskPredictor())
    again.journal_dir = tmp_path / "journals"
    assert same_layer(again._target, target)
    assert [layer.name for layer in viewer.layers].count("A labels") == 1
    viewer.layers[PROMPTS_NAME].add([60, 60])
    wait_idle(qtbot, again)
    again.commit()
    assert labels_of(target.data) == {1, 2}


def test_closing_with_a_commit_waiting_commits_nothing_and_says_so(qtbot, make_napari_viewer, nuclei, tmp_path):
    viewer = make_napari_viewer()
    viewer.add_image(nuclei, name="A")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.set_predictor(DiskPredictor(delay_s=0.5))
    widget.journal_dir = tmp_path / "journals"
    target = widget._target
    viewer.layers[PROMPTS_NAME].add([150, 150])
    widget.commit()  # waits for the prediction
    assert widget.busy
    start = notification_count()
    dock.destroyOnClose()
    qtbot.wait(1500)  # the prediction arrives after the close
    assert not target.data.any()
    assert any("closed before the object's prediction arrived: it was not committed" in m
               for m in notifications_since(start))
    journal = widget.journal_path
    lines = journal.read_text().splitlines() if journal is not None and journal.exists() else []
    assert not any('"type":"commit"' in line for line in lines)
    # and a closed widget no longer journals the target's hand edits
    target.paint((300, 300), 7)
    after = journal.read_text().splitlines() if journal is not None and journal.exists() else []
    assert after == lines


def _carrying(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6, delay_s=0.3), volume, name="stack")
    viewer.dims.set_current_step(0, 5)
    viewer.layers[PROMPTS_NAME].add([5, 22, 84])
    wait_idle(qtbot, widget)
    target = widget._target
    widget.carry_through(10)
    qtbot.waitUntil(lambda: target.data[6].any(), timeout=20000)
    return viewer, widget, target


def test_removing_the_image_stops_a_carry_run(qtbot, open_widget):
    viewer, widget, target = _carrying(qtbot, open_widget)
    start = notification_count()
    viewer.layers.remove("stack")
    assert widget._carry_job is None
    qtbot.wait(1000)  # results the worker still sends are ignored
    wait_idle(qtbot, widget)
    messages = notifications_since(start)
    assert any("stopped: the image changed" in m for m in messages), messages
    assert not any("failed" in m for m in messages), messages
    written = [z for z in range(target.data.shape[0]) if target.data[z].any()]
    assert 5 in written and 6 in written and len(written) < 11  # what was carried stays


def test_removing_the_target_stops_a_carry_run(qtbot, open_widget):
    viewer, widget, target = _carrying(qtbot, open_widget)
    start = notification_count()
    viewer.layers.remove(target)
    assert widget._carry_job is None
    qtbot.wait(1000)
    wait_idle(qtbot, widget)
    messages = notifications_since(start)
    assert any("stopped: its target 'stack labels' was removed" in m for m in messages), messages
    assert [layer.name for layer in viewer.layers].count("stack labels") == 0  # no half-run in a new layer


def test_a_pending_commit_lands_before_the_image_switches(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(delay_s=0.5), nuclei, name="A")
    target_a = widget._target
    viewer.add_image(np.ascontiguousarray(nuclei[::-1]), name="B")
    widget.set_image_layer(viewer.layers["A"])
    viewer.layers[PROMPTS_NAME].add([150, 150])
    widget.commit()  # waits for the prediction
    start = notification_count()
    widget.clear()  # refused while the commit waits, like undo
    assert any("pending commit" in m for m in notifications_since(start))
    widget.image_combo.setCurrentIndex(widget.image_combo.findText("B"))
    wait_idle(qtbot, widget)
    qtbot.waitUntil(lambda: same_layer(widget._image, viewer.layers["B"]), timeout=10000)
    assert labels_of(target_a.data) == {1}
    assert widget.history.can_undo is False  # a new image starts a new history


def test_a_kept_target_is_moved_above_the_new_image(open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    target = widget._target
    viewer.add_image(np.ascontiguousarray(nuclei[::-1]), name="B")  # on top of A's labels
    widget.set_image_layer(viewer.layers["B"])
    assert same_layer(widget._target, target)  # same shape: one labels layer for both (e.g. two channels)
    names = [layer.name for layer in viewer.layers]
    assert names.index("A labels") > names.index("B")
    assert names.index(PROMPTS_NAME) > names.index("A labels")


def test_a_leading_channel_axis_remakes_the_empty_target_without_it(qtbot, open_widget, nuclei):
    stack = np.stack([nuclei, nuclei[::-1]])
    viewer, widget = open_widget(DiskPredictor(), stack, name="two")
    assert widget._target.data.shape == stack.shape  # read as a 2-slice volume at first
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(0))
    target = widget._target
    assert target.data.shape == nuclei.shape
    assert [layer.name for layer in viewer.layers].count("two labels") == 1
    viewer.layers[PROMPTS_NAME].add([0, 150, 150])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(target.data) == {1}
    # back to "none": the target holds a label now, so it stays (and says nothing: 2-D is fine)
    widget.channel_axis_combo.setCurrentIndex(0)
    assert same_layer(widget._target, target)


def test_carrying_past_the_last_slice_does_not_commit(qtbot, open_widget):
    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(), volume, name="stack")
    last = volume.shape[0] - 1
    viewer.dims.set_current_step(0, last)
    viewer.layers[PROMPTS_NAME].add([last, 64, 64])
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.carry_next()
    widget.carry_through(5)
    messages = notifications_since(start)
    assert sum("Already at the last slice: the object is not committed" in m for m in messages) == 2, messages
    assert labels_of(widget._target.data) == set()
    assert len(viewer.layers[PROMPTS_NAME].data) == 1


def test_after_a_commit_the_next_object_starts_positive(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([150, 150])
    widget.set_polarity(False)
    prompts.add([150, 170])  # a negative correction
    wait_idle(qtbot, widget)
    widget.commit()
    assert widget._positive and prompts.feature_defaults["positive"].iloc[0]


def test_a_target_placed_differently_from_the_image_is_refused(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A", scale=(0.5, 0.5), translate=(100, 50))
    own = widget._target  # made on the image's grid
    for kwargs in ({"scale": (1, 1), "translate": (100, 50)}, {"scale": (0.5, 0.5), "translate": (110, 50)}):
        other = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name="elsewhere", **kwargs)
        start = notification_count()
        widget.set_target(other)
        assert any("cannot be a target" in m for m in notifications_since(start))
        assert same_layer(widget._target, own)
        viewer.layers.remove(other)
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    widget.commit()
    assert own.data[150, 150] == 1


def test_pasting_prompt_points_is_refused_with_a_message(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([150, 150])
    wait_idle(qtbot, widget)
    prompts.mode = "select"
    prompts.selected_data = {0}
    viewer.layers.selection.active = prompts
    keys = viewer.window._qt_viewer._key_map_handler
    keys.press_key("Control-C")
    keys.release_key("Control-C")
    start = notification_count()
    keys.press_key("Control-V")
    keys.release_key("Control-V")
    assert len(prompts.data) == 1
    assert any("Pasting prompt points is not supported" in m for m in notifications_since(start))


def test_hidden_prompts_layer_commits_clears_and_undoes(qtbot, open_widget, nuclei):
    # Hiding the points (eye icon) to see the outline is natural; napari raises when features are
    # set on a hidden Points layer that just lost points, which used to break commit half-way.
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([150, 150])
    wait_idle(qtbot, widget)
    prompts.visible = False
    start = notification_count()
    widget.commit()
    target = widget._target
    assert labels_of(target.data) == {1}
    assert len(prompts.data) == 0 and not prompts.visible
    assert widget.history.last.name.startswith("commit")
    widget.undo()
    assert labels_of(target.data) == set()
    assert len(prompts.data) == 1 and list(prompts.features["positive"]) == [True]
    widget.clear()
    assert len(prompts.data) == 0
    assert not [n for n in notifications_since(start) if "failed" in str(n)]


def _disk_image(cy, cx, shape=(300, 300), r=25):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    image = np.full(shape, 10, np.uint8)
    image[(yy - cy) ** 2 + (xx - cx) ** 2 <= r * r] = 200
    return image


def test_replaced_image_data_is_segmented_not_the_old_data(qtbot, open_widget):
    # Shipped weights: the mask must follow the image content, which DiskPredictor ignores.
    from napari_inter2former.session import Predictor

    viewer, widget = open_widget(Predictor(threads=2), _disk_image(80, 80), name="img")
    viewer.layers[PROMPTS_NAME].add([80, 80])
    wait_idle(qtbot, widget)
    assert widget._result.mask.sum() > 1500
    viewer.layers["img"].data = _disk_image(200, 200)  # the old object's place is background now
    wait_idle(qtbot, widget)
    assert widget._obj is not None and widget._result.mask.sum() < 300  # predicted again, on the new data
    widget.clear()
    viewer.layers[PROMPTS_NAME].add([200, 200])
    wait_idle(qtbot, widget)
    assert widget._result.mask.sum() > 1500

    start = notification_count()
    viewer.layers["img"].data = _disk_image(300, 300, shape=(500, 500))
    assert any("changed shape" in n for n in notifications_since(start))
    viewer.layers[PROMPTS_NAME].add([300, 300])
    wait_idle(qtbot, widget)
    widget.commit()
    wait_idle(qtbot, widget)
    assert widget._target.data.shape == (500, 500) and widget._target.data[300, 300] == 1


def test_a_target_of_another_shape_is_refused_and_an_image_switch_gets_its_own(qtbot, open_widget):
    volume = np.random.default_rng(0).integers(0, 255, (5, 96, 96), dtype=np.uint8)
    viewer, widget = open_widget(DiskPredictor(), volume, name="stack")
    own = widget._target
    for wrong in (np.zeros((3, 96, 96), np.uint16), np.zeros((96, 96), np.uint16)):
        layer = viewer.add_labels(wrong, name=f"wrong {wrong.ndim}")
        start = notification_count()
        widget.set_target(layer)
        assert same_layer(widget._target, own)
        assert any("cannot be a target" in n and "needs 5×96×96" in n for n in notifications_since(start))
    # a 2-D projection of the stack: same plane size, but the stack's 3-D target must not take its commits
    viewer.add_image(volume.max(0), name="mip")
    widget.set_image_layer(viewer.layers["mip"])
    viewer.layers[PROMPTS_NAME].add([40, 40])
    wait_idle(qtbot, widget)
    widget.commit()
    assert widget._target.data.shape == (96, 96) and not same_layer(widget._target, own)
    assert labels_of(widget._target.data) == {1} and labels_of(own.data) == set()


def test_a_middle_channel_axis_warns_that_the_target_keeps_it(qtbot, open_widget):
    data = np.random.default_rng(0).integers(0, 255, (2, 3, 4, 64, 64), dtype=np.uint8)  # T, C, Z, Y, X
    viewer, widget = open_widget(DiskPredictor(), data, name="hyper")
    start = notification_count()
    widget.channel_axis_combo.setCurrentIndex(widget.channel_axis_combo.findData(1))
    assert widget.channel_axis == 1
    assert any("keeps channel axis 1" in n for n in notifications_since(start))


def test_an_image_with_a_rotate_or_affine_transform_is_refused(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="straight")
    for name, kwargs in (("rotated", {"rotate": 30}), ("sheared", {"shear": [0.5]}),
                         ("affine", {"affine": np.array([[1, 0.2, 0], [0, 1, 0], [0, 0, 1]])})):
        viewer.add_image(nuclei, name=name, **kwargs)
        start = notification_count()
        widget.set_image_layer(viewer.layers[name])
        assert any(f"'{name}' has a" in n for n in notifications_since(start)), name
        assert PROMPTS_NAME not in [layer.name for layer in viewer.layers]
    widget.set_image_layer(viewer.layers["straight"])  # scale and translate alone are fine
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    assert widget._result is not None and not widget._result.empty


def test_renaming_layers_updates_the_combos(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    viewer.layers["A"].name = "nuclei"
    widget._target.name = "my labels"
    assert widget.image_combo.currentText() == "nuclei"
    assert widget.target_combo.currentText() == "my labels"


def test_going_back_to_an_image_reuses_its_labels_layer(qtbot, open_widget):
    stack = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(), stack, name="stack")
    viewer.add_image(stack.max(0), name="proj")
    for name, point in (("stack", [5, 22, 84]), ("proj", [22, 84]), ("stack", [5, 60, 40])):
        widget.set_image_layer(viewer.layers[name])
        if name == "stack":
            viewer.dims.set_current_step(0, 5)
        viewer.layers[PROMPTS_NAME].add(point)
        wait_idle(qtbot, widget)
        widget.commit()
        assert widget._target.name == f"{name} labels" and widget.target_combo.currentText() == f"{name} labels"
    assert sorted(layer.name for layer in viewer.layers if layer.name.endswith("labels")) == ["proj labels",
                                                                                             "stack labels"]
    assert labels_of(viewer.layers["stack labels"].data) == {1, 2}


def test_refused_and_later_transformed_images(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="N")
    viewer.add_image(nuclei, name="R", rotate=30)
    viewer.add_image(nuclei, name="Af", affine=np.array([[1, 0.2, 0], [0, 1, 0], [0, 0, 1]]))
    widget.set_image_layer(viewer.layers["R"])  # refused
    viewer.layers.remove("R")  # the widget falls back to the last image, Af, which it refuses too
    assert widget.image_combo.currentText() == "Af"
    widget.image_combo.setCurrentIndex(widget.image_combo.findText("N"))
    assert widget._image.name == "N"
    viewer.layers["N"].rotate = 45  # after the image was chosen: new clicks are refused
    start = notification_count()
    viewer.layers[PROMPTS_NAME].add([150, 150])
    assert len(widget._points.coords) == 0
    assert any("now has a rotate transform" in n for n in notifications_since(start))


def _pending_commit(open_widget, nuclei):
    """A widget on image "A" whose commit waits for a slow prediction."""
    viewer, widget = open_widget(DiskPredictor(delay_s=0.8), nuclei, name="A")
    viewer.layers[PROMPTS_NAME].add([150, 150])
    widget.commit()
    assert widget.busy
    return viewer, widget


def test_data_changing_shape_under_a_pending_commit_drops_it_with_one_message(qtbot, open_widget, nuclei):
    viewer, widget = _pending_commit(open_widget, nuclei)
    start = notification_count()
    viewer.layers["A"].data = nuclei[:200, :300]
    wait_idle(qtbot, widget)
    messages = notifications_since(start)
    assert any("dropped, not committed" in m for m in messages)
    assert not any("failed" in m for m in messages)
    viewer.layers[PROMPTS_NAME].add([100, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    wait_idle(qtbot, widget)
    assert widget._target.data.shape == (200, 300) and labels_of(widget._target.data) == {1}


def test_a_reopened_saved_segmentation_numbers_commits_after_its_journal(qtbot, make_napari_viewer, nuclei,
                                                                         tmp_path):
    from napari_inter2former.journal import read_journal, replay

    viewer = make_napari_viewer()
    viewer.add_image(nuclei, name="A")
    dock, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.set_predictor(DiskPredictor())
    widget.journal_dir = tmp_path / "journals"
    for y, x in ((60, 60), (150, 150)):
        viewer.layers[PROMPTS_NAME].add([y, x])
        wait_idle(qtbot, widget)
        widget.commit()
    saved = widget.save_segmentation(tmp_path / "seg.tif")
    dock.destroyOnClose()
    reopened = viewer.open(str(saved), layer_type="labels")[0]
    _, again = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    again.set_predictor(DiskPredictor())
    again.journal_dir = tmp_path / "journals"
    again.set_target(reopened)
    viewer.layers[PROMPTS_NAME].add([250, 250])
    wait_idle(qtbot, again)
    again.commit()
    again.undo()
    assert again.journal_path == tmp_path / "seg.journal.jsonl"
    _, events = read_journal(again.journal_path)
    commits = [e["seq"] for e in events if e["type"] == "commit"]
    assert commits == [1, 2, 3]  # the reopened session went on from 3, not from 1 again
    assert [e["seq"] for e in events if e["type"] == "undo"] == [3]
    np.testing.assert_array_equal(replay(again.journal_path), np.asarray(reopened.data))


def test_replacing_the_targets_data_restarts_ids_history_and_journal(qtbot, open_widget, nuclei):
    # target.data = a loaded segmentation: the next commit reused id 1 (merging two objects),
    # and undo wrote the old array's pixels into the new one.
    viewer, widget = open_widget(DiskPredictor(grow=5, delay_s=0.2), nuclei, name="nuclei")
    target = widget._target
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([80, 80])
    wait_idle(qtbot, widget)
    widget.commit()
    old_journal = widget.journal_path
    loaded = np.zeros_like(np.asarray(target.data))
    loaded[300:310, 300:310] = 1
    loaded[0:10, 0:10] = 2
    start = notification_count()
    prompts.add([200, 220])
    widget.commit()  # waits for the prediction, which lands after the replacement below
    target.data = loaded
    wait_idle(qtbot, widget)
    assert labels_of(target.data) == {1, 2, 3} and (np.asarray(target.data) == 1).sum() == 100
    assert any("was replaced: undo history starts again, new objects start at label 3" in m
               for m in notifications_since(start))
    widget.undo()  # the commit of label 3 only: the replaced data is not touched
    assert labels_of(target.data) == {1, 2} and (np.asarray(target.data) == 1).sum() == 100
    widget.undo()  # nothing before the replacement is undone into the new array
    assert labels_of(target.data) == {1, 2}
    assert widget.journal_path != old_journal


def test_switched_and_removed_layers_are_let_go(qtbot, open_widget, nuclei):
    """The widget keeps no layer it no longer uses (QA soak: every image switch kept the old
    prompts and preview layers alive, and a removed image and target kept their data)."""
    import gc
    import weakref

    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    viewer.add_image(np.ascontiguousarray(nuclei[::-1]), name="B")
    old = [weakref.ref(viewer.layers[name]) for name in (PROMPTS_NAME, PREVIEW_NAME)]
    for _ in range(3):
        widget.set_image_layer(viewer.layers["B"])
        widget.set_image_layer(viewer.layers["A"])
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    widget.commit()
    target = weakref.ref(widget._target)
    image = weakref.ref(viewer.layers["A"])
    viewer.layers.remove(widget._target)
    viewer.layers.remove("A")
    qtbot.wait(50)
    gc.collect()
    assert all(ref() is None for ref in old)
    assert target() is None and image() is None
    alive = list(viewer.layers)
    assert all(any(same_layer(bound, layer) for layer in alive) for bound in widget._bound_layers)


def _click_world(viewer, world):
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add(prompts.world_to_data(world))


def test_a_scale_or_translate_set_after_choosing_the_image_is_followed(qtbot, open_widget, nuclei):
    """A pixel size entered after the image was chosen used to be ignored: the click at the
    image's pixel (40, 50) was predicted and committed at (23, 29) (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(grow=3), nuclei, name="A")
    image = viewer.layers["A"]
    image.scale, image.translate = (0.5, 0.5), (3.0, 4.0)
    _click_world(viewer, image.data_to_world([40, 50]))
    wait_idle(qtbot, widget)
    widget.commit()
    target = widget._target
    assert target.data[40, 50] == 1 and not target.data[23, 29]
    assert np.allclose(viewer.layers[PREVIEW_NAME].scale, image.scale)
    # A target the user chose is not moved; while it is placed otherwise, commits are refused.
    chosen = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name="mine", scale=(0.5, 0.5),
                               translate=(3.0, 4.0))
    widget.set_target(chosen)
    image.translate = (0.0, 0.0)
    _click_world(viewer, image.data_to_world([100, 100]))
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.commit()
    wait_idle(qtbot, widget)
    assert not chosen.data.any() and widget._obj is not None
    assert any("no longer placed like the image" in m for m in notifications_since(start))


def test_the_widgets_layers_keep_the_images_units(qtbot, open_widget, nuclei):
    """In pixels, the widget's layers made napari drop every layer's units, and an image in nm
    and one in µm of the same field were drawn a factor of 1000 apart (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(grow=3), nuclei, name="nm", scale=(100, 100), units="nm")
    viewer.add_image(nuclei, name="um", scale=(0.1, 0.1), units="µm")
    for layer in (viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME], widget._target):
        assert tuple(str(u) for u in layer.units) == ("nanometer", "nanometer")
    assert viewer.layers.units is not None  # napari draws in nm, the image's unit
    _click_world(viewer, viewer.layers["nm"].data_to_world([40, 50]))
    wait_idle(qtbot, widget)
    widget.commit()
    assert widget._target.data[40, 50] == 1


def test_an_image_in_a_larger_unit_than_another_layer_keeps_clicks_on_its_pixels(qtbot, open_widget):
    """napari draws in the smallest unit (nm), but a layer's world_to_data ignores units: the
    widget's layers then stay in pixels, so napari drops units and clicks land where shown
    (review: with the image's µm copied, a click on pixel (50, 50) arrived at (50000, 50000))."""
    stack = np.zeros((10, 120, 120), np.float32)
    stack[:, 40:60, 40:60] = 1.0
    viewer, widget = open_widget(DiskPredictor(grow=3), stack, name="um", scale=(1, 0.1, 0.1), units="µm")
    viewer.add_image(stack, name="nm", scale=(1000, 100, 100), units="nm")
    widget.set_image_layer(viewer.layers["um"])
    image = viewer.layers["um"]
    viewer.dims.set_current_step(0, 5)
    assert widget._shown_spec().index[0] == 5
    _click_world(viewer, image.data_to_world([5, 50, 50]))
    wait_idle(qtbot, widget)
    widget.commit()
    assert widget._target.data[5, 50, 50] == 1 and labels_of(widget._target.data[4]) == set()


def test_targets_are_compared_by_scale_translate_and_units(qtbot, open_widget, nuclei):
    from napari_inter2former.ui.layers import same_geometry

    viewer, widget = open_widget(DiskPredictor(), nuclei, name="um", scale=(0.5, 0.5), units="µm")
    image = viewer.layers["um"]
    plain = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name="plain", scale=(0.5, 0.5))
    assert same_geometry(plain, image)  # pixel units: napari ignores units, the numbers agree
    nm = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name="nm", scale=(500, 500), units="nm")
    assert not same_geometry(nm, image)  # the same pixels, but world_to_data would mix nm and µm
    from napari.layers import Image, Labels  # outside the viewer: its sliders overflow at 1e-9

    tiny = Image(nuclei, scale=(1e-9, 1e-9), units="m")
    assert not same_geometry(Labels(np.zeros(nuclei.shape, np.uint16), scale=(2e-9, 2e-9), units="m"), tiny)
    start = notification_count()
    widget.set_target(nm)
    assert not same_layer(widget._target, nm)
    assert any("scale, position or units differ" in m for m in notifications_since(start))
    widget.set_target(plain)
    assert same_layer(widget._target, plain)


def test_a_read_only_target_is_refused_when_chosen(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    frozen = np.zeros(nuclei.shape, np.uint16)
    frozen.flags.writeable = False
    layer = viewer.add_labels(frozen, name="frozen")
    start = notification_count()
    widget.set_target(layer)
    assert not same_layer(widget._target, layer)
    assert any("read-only" in m for m in notifications_since(start))


def test_removing_image_and_target_under_a_pending_commit_makes_no_layer(qtbot, open_widget, nuclei):
    viewer, widget = _pending_commit(open_widget, nuclei)
    start = notification_count()
    viewer.layers.remove(widget._target)
    viewer.layers.remove("A")
    qtbot.wait(1500)
    wait_idle(qtbot, widget)
    messages = notifications_since(start)
    assert not any("failed" in m for m in messages), messages
    assert [layer.name for layer in viewer.layers] == []


def test_removing_only_the_image_under_a_pending_commit_still_commits(qtbot, open_widget, nuclei):
    viewer, widget = _pending_commit(open_widget, nuclei)
    target = widget._target
    viewer.layers.remove("A")
    qtbot.wait(1500)
    wait_idle(qtbot, widget)
    assert labels_of(target.data) == {1}


def test_a_pixel_size_given_as_an_affine_gets_a_hint(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    viewer.add_image(nuclei, name="B", affine=np.diag([0.5, 0.5, 1.0]))
    start = notification_count()
    widget.set_image_layer(viewer.layers["B"])
    assert any("has an affine transform (a pixel size: set it as the layer's scale" in m
               for m in notifications_since(start))


def test_a_target_with_a_rotate_or_shear_is_refused_and_a_late_one_stops_the_commit(qtbot, open_widget, nuclei):
    """A rotated target took commits by pixel index and drew them 90 degrees away from the
    object, without a word; a rotate given to the image mid-object did the same at C (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    for name, kwargs in (("rot", {"rotate": 90}), ("shear", {"shear": [0.5]})):
        layer = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name=name, **kwargs)
        start = notification_count()
        widget.set_target(layer)
        assert not same_layer(widget._target, layer), name
        assert any(f"'{name}' cannot be a target: it has a" in n for n in notifications_since(start)), name
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget)
    viewer.layers["A"].rotate = 30  # after the object was started
    start = notification_count()
    widget.commit()
    wait_idle(qtbot, widget)
    assert any("'A' now has a rotate transform" in n for n in notifications_since(start))
    assert widget._obj is not None and labels_of(widget._target.data) == set()  # kept, nothing written
    viewer.layers["A"].rotate = 0
    widget.commit()
    wait_idle(qtbot, widget)
    assert labels_of(widget._target.data) == {1}
