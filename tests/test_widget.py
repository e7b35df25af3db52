"""The annotation widget in a real (headless) napari viewer, opened through the plugin manifest."""

from __future__ import annotations

import time

import numpy as np
import pytest
from conftest import (
    RANDOM_SEED,
    DiskPredictor,
    component_decoder,
    labels_of,
    logits_of,
    notification_count,
    notifications_since,
    wait_idle,
)

from napari_inter2former.journal import read_journal, recorded_window_policy, replay
from napari_inter2former.session import Click, Predictor
from napari_inter2former.ui.layers import PREVIEW_NAME, PROMPTS_NAME, same_layer
from napari_inter2former.ui.widget import scale_text


def _brightest(image, avoid=None):
    """A pixel inside a bright nucleus, away from `avoid`."""
    img = image.astype(float)
    if avoid is not None:
        yy, xx = np.mgrid[: img.shape[0], : img.shape[1]]
        img[(yy - avoid[0]) ** 2 + (xx - avoid[1]) ** 2 < 60**2] = 0
    return np.unravel_index(np.argmax(img), img.shape)


def _preview_full(viewer, widget, shape):
    """The preview layer's content pasted into a full-size array (it only holds the window)."""
    r = widget._result
    return np.zeros(shape, bool) if r is None else r.to_full(shape)


def test_status_line_names_the_decoding_scale():
    assert scale_text(1.0) == ""
    assert scale_text(2.0) == " magnified ×2"
    assert scale_text(1.7777) == " magnified ×1.78"
    assert scale_text(0.125) == " shrunk ×0.125"
    assert scale_text(2 / 3) == " shrunk ×0.667"


def test_large_object_is_decoded_shrunk_and_committed_on_native_pixels(qtbot, open_widget, monkeypatch):
    monkeypatch.setattr(Predictor, "decode_window_logits", logits_of(component_decoder))
    image = np.full((640, 640), 10, np.uint8)
    yy, xx = np.mgrid[:640, :640]
    cell = (yy - 320) ** 2 + (xx - 300) ** 2 <= 140**2  # wider than the first 256 px window
    image[cell] = 200
    viewer, widget = open_widget(Predictor(weights=None, seed=RANDOM_SEED), image, name="cell")
    viewer.layers[PROMPTS_NAME].add([320, 300])
    wait_idle(qtbot, widget)
    assert "shrunk ×" in widget.latency_label.text()
    widget.commit()
    committed = np.asarray(widget._target.data) == 1
    assert (committed & cell).sum() / (committed | cell).sum() > 0.97


def test_click_commit_undo_redo(qtbot, open_widget, random_predictor, nuclei):
    viewer, widget = open_widget(random_predictor, nuclei, name="nuclei")
    prompts, preview = viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME]
    target = widget._target
    assert target is not None and labels_of(target.data) == set()
    y, x = _brightest(nuclei)
    prompts.add([y, x])
    wait_idle(qtbot, widget)
    result = widget._result
    assert result is not None and not result.empty
    # the preview layer holds the window only, placed at the window's offset
    assert preview.data.shape == result.mask.shape
    np.testing.assert_allclose(np.asarray(preview.translate), result.offset)
    np.testing.assert_array_equal(preview.data.astype(bool), result.mask)
    assert widget.last_latency_s is not None and "ms" in widget.latency_label.text()

    widget.commit()
    first = np.asarray(target.data).copy()
    assert labels_of(first) == {1}
    np.testing.assert_array_equal(first == 1, result.to_full(nuclei.shape))
    assert len(prompts.data) == 0 and widget._result is None  # ready for the next object

    # A second object whose prediction covers the first (random init predicts the same
    # pixels): by default nothing of object 1 may change.
    start = notification_count()
    y2, x2 = _brightest(nuclei, avoid=(y, x))
    prompts.add([y2, x2])
    wait_idle(qtbot, widget)
    second = widget._result
    widget.commit()
    after = np.asarray(target.data)
    np.testing.assert_array_equal(after == 1, first == 1)
    expected2 = second.to_full(nuclei.shape) & (first == 0)
    np.testing.assert_array_equal(after == 2, expected2)
    if not expected2.any():  # all of it was object 1: refused, with a message, object kept
        assert any("other objects" in m for m in notifications_since(start))
        assert len(prompts.data) == 1

    if expected2.any():  # undo / redo the second commit
        widget.undo()
        assert labels_of(target.data) == {1} and len(prompts.data) == 1
        widget.redo()
        assert labels_of(target.data) == {1, 2}
        widget.undo()
    widget.undo()  # the second click
    assert len(prompts.data) == 0
    widget.undo()  # the first commit
    assert labels_of(target.data) == set()
    assert len(prompts.data) == 1 and widget._result is not None  # the object is back for editing
    widget.redo()
    np.testing.assert_array_equal(np.asarray(target.data) == 1, first == 1)


def test_second_object_never_overwrites_first(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=10), nuclei)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    first = np.asarray(target.data) == 1
    prompts.add([100, 112])  # disks of radius 15 overlap
    wait_idle(qtbot, widget)
    preview2 = widget._result.to_full(nuclei.shape)
    assert (preview2 & first).any() and (preview2 & ~first).any()
    widget.commit()
    data = np.asarray(target.data)
    np.testing.assert_array_equal(data == 1, first)
    np.testing.assert_array_equal(data == 2, preview2 & ~first)
    # several levels of undo and redo
    widget.undo()  # commit 2
    assert labels_of(target.data) == {1} and len(prompts.data) == 1
    widget.undo()  # click 2
    assert labels_of(target.data) == {1} and len(prompts.data) == 0
    widget.undo()  # commit 1
    assert labels_of(target.data) == set() and len(prompts.data) == 1
    widget.undo()  # click 1
    assert len(prompts.data) == 0 and widget._result is None
    for _ in range(4):
        widget.redo()
    np.testing.assert_array_equal(np.asarray(target.data), data)
    # with "allow overwriting", a third object takes pixels from the others
    widget.overwrite_check.setChecked(True)
    prompts.add([100, 106])
    wait_idle(qtbot, widget)
    preview3 = widget._result.to_full(nuclei.shape)
    widget.commit()
    np.testing.assert_array_equal(np.asarray(target.data) == 3, preview3)


def test_rapid_clicks_end_in_the_final_prompt_set(qtbot, open_widget, nuclei):
    nuclei = np.ascontiguousarray(nuclei[:256, :256])  # one 256-px window: quicker decodes
    slow = Predictor(weights=None, seed=RANDOM_SEED)
    viewer, widget = open_widget(slow, nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    computed = []
    widget._worker.finished_job.connect(lambda job, result: computed.append(job.generation))
    rng = np.random.default_rng(0)
    points = rng.integers(20, 236, size=(10, 2))
    for i, (y, x) in enumerate(points):
        widget.set_polarity(i % 3 != 2)
        prompts.add([y, x])  # no waiting: the worker computes the newest state only
    assert widget.busy
    wait_idle(qtbot, widget, timeout=60000)
    assert 1 <= len(computed) < 10  # intermediate states were skipped
    final = [Click(int(y), int(x), i % 3 != 2) for i, (y, x) in enumerate(points)]
    assert widget._clicks(widget._points, widget._obj.spec) == tuple(final)
    reference = Predictor(weights=None, seed=RANDOM_SEED)
    reference.set_image(nuclei)
    expected = reference.new_session().set_clicks(final)
    np.testing.assert_array_equal(widget._result.to_full(nuclei.shape), expected.to_full(nuclei.shape))
    np.testing.assert_array_equal(viewer.layers[PREVIEW_NAME].data.astype(bool), widget._result.mask)


def test_moving_and_removing_points_repredict(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    prompts.add([150, 150])
    wait_idle(qtbot, widget)
    assert widget._result.to_full(nuclei.shape)[150, 150]
    prompts.selected_data = {1}
    prompts.remove_selected()
    wait_idle(qtbot, widget)
    full = widget._result.to_full(nuclei.shape)
    assert full[100, 100] and not full[150, 150]
    prompts.data = np.array([[200.0, 60.0]])  # a point moved
    wait_idle(qtbot, widget)
    full = widget._result.to_full(nuclei.shape)
    assert full[200, 60] and not full[100, 100]


def test_polarity_toggle_and_key_bindings(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=8), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    handler = viewer.window._qt_viewer._key_map_handler
    prompts.add([100, 100])
    handler.press_key("T")
    handler.release_key("T")
    assert widget._positive is False
    prompts.add([100, 104])
    assert prompts.features["positive"].tolist() == [True, False]
    face = np.asarray(prompts.face_color)
    assert face[0, 1] > 0.5 and face[1, 0] > 0.5  # green, red
    wait_idle(qtbot, widget)
    assert not widget._result.to_full(nuclei.shape)[100, 104]  # the negative click carved a hole
    # shortcuts work whichever of our layers (or the target) is selected
    for layer, key in ((widget._target, "C"), (viewer.layers[PREVIEW_NAME], "Control-Z"),
                       (prompts, "Control-Shift-Z")):
        viewer.layers.selection.active = layer
        handler.press_key(key)
        handler.release_key(key)
        if key == "C":
            assert labels_of(widget._target.data) == {1}
        elif key == "Control-Z":
            assert labels_of(widget._target.data) == set()
        else:
            assert labels_of(widget._target.data) == {1}
    # Shift+C clears the current object
    prompts.add([250, 250])
    viewer.layers.selection.active = widget._target
    handler.press_key("Shift-C")
    assert len(prompts.data) == 0 and widget._obj is None


def test_edit_existing_label(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=6), nuclei)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    target.data[50:70, 50:70] = 7
    target.data[200:210, 200:210] = 3
    widget.set_target(None)
    widget.set_target(target)  # a rescan: the next new id is 8
    widget.start_pick()
    prompts.add([60, 60])  # the pick click is not a prompt
    assert len(prompts.data) == 0 and widget._obj.label_id == 7
    prompts.add([60, 75])  # grow label 7 with a positive click
    wait_idle(qtbot, widget)
    widget.commit()
    data = np.asarray(target.data)
    assert data[60, 75] == 7 and data[205, 205] == 3 and labels_of(data) == {3, 7}
    prompts.add([120, 120])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(target.data) == {3, 7, 8}


def test_bad_inputs_give_messages(qtbot, open_widget, make_napari_viewer, nuclei):
    # no image layer at all
    viewer = make_napari_viewer()
    _, empty = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    start = notification_count()
    empty.commit()
    empty.carry_next()
    assert any("image layer" in m for m in notifications_since(start))

    viewer, widget = open_widget(DiskPredictor(), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    start = notification_count()
    prompts.add([500, 20])  # outside the 360x360 image
    assert len(prompts.data) == 0
    assert any("outside the image" in m for m in notifications_since(start))

    # a uint8 target whose 255 ids are all used: commit refuses, the object is kept
    full = np.zeros(nuclei.shape, np.uint8)
    full[:15, :17] = np.arange(1, 256, dtype=np.uint8).reshape(15, 17)
    target = viewer.add_labels(full, name="full")
    widget.set_target(target)
    prompts.add([200, 200])
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.commit()
    assert any("no id left" in m and "largest in use (255)" in m for m in notifications_since(start))
    assert len(prompts.data) == 1 and widget._result is not None
    np.testing.assert_array_equal(target.data, full)
    # a 0/255 binary mask has room below 255, but new ids go above the largest: the message says so
    binary = np.where(full > 0, 255, 0).astype(np.uint8)
    widget.set_target(viewer.add_labels(binary, name="binary"))
    start = notification_count()
    widget.commit()
    assert any("new ids go above the largest in use (255)" in m for m in notifications_since(start))
    assert len(prompts.data) == 1
    # switching to a roomier target, the same object commits
    widget.set_target(None)
    big = viewer.add_labels(np.zeros(nuclei.shape, np.uint16), name="big")
    widget.set_target(big)
    prompts.add([200, 206])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(big.data) == {1}

    # an image the model cannot use (constant): a message, no crash
    viewer.add_image(np.full((64, 64), 5, np.uint8), name="flat")
    widget.set_image_layer(viewer.layers["flat"])
    start = notification_count()
    viewer.layers[PROMPTS_NAME].add([30, 30])
    qtbot.waitUntil(lambda: any("constant" in m for m in notifications_since(start)), timeout=10000)
    assert not widget.busy


def test_journal_written_and_replayed(qtbot, open_widget, nuclei, tmp_path):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    for y, x in ((80, 80), (82, 90), (200, 220)):
        prompts.add([y, x])
        wait_idle(qtbot, widget)
        widget.commit()
    widget.undo()  # the third commit
    widget.undo()
    widget.redo()
    widget.redo()
    widget.undo()
    header, events = read_journal(widget.journal_path)
    assert header["target"]["shape"] == list(nuclei.shape)
    assert recorded_window_policy(header) == widget.predictor.window_policy
    assert header["model"]["window_policy"]["shrink"] is False  # DiskPredictor's native windows
    assert [e["type"] for e in events if e["type"] != "prompts"] == [
        "commit", "commit", "commit", "undo", "redo", "undo"]
    rebuilt = replay(widget.journal_path)
    np.testing.assert_array_equal(rebuilt, np.asarray(target.data))
    predicted = replay(widget.journal_path, image=nuclei, mode="predict", predictor=DiskPredictor(grow=5))
    np.testing.assert_array_equal(predicted, np.asarray(target.data))
    # saving puts the segmentation and its journal side by side
    saved = widget.save_segmentation(tmp_path / "seg.tif")
    assert saved.exists() and (tmp_path / "seg.journal.jsonl").exists()
    assert widget.journal_path == tmp_path / "seg.journal.jsonl"


def test_commit_while_predicting_waits_without_blocking(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=5, delay_s=0.4), nuclei)
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    started = time.perf_counter()
    prompts.add([150, 150])
    widget.commit()  # returns at once; the commit happens when the prediction arrives
    assert time.perf_counter() - started < 0.3
    assert widget.busy and labels_of(target.data) == set()
    prompts.add([40, 40])  # refused while the commit is pending: it would change the object
    assert len(prompts.data) == 1
    wait_idle(qtbot, widget)
    assert labels_of(target.data) == {1} and target.data[150, 150] == 1 and target.data[40, 40] == 0


def test_removing_the_image_keeps_committed_work(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    prompts, target = viewer.layers[PROMPTS_NAME], widget._target
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    prompts.add([200, 200])  # an object in progress
    saved = np.asarray(target.data).copy()
    viewer.layers.remove("nuclei")
    assert widget._image is None and PROMPTS_NAME not in viewer.layers
    np.testing.assert_array_equal(np.asarray(target.data), saved)
    start = notification_count()
    widget.commit()
    assert any("image layer" in m for m in notifications_since(start))
    # a new image: the widget is ready again, and the old target can still be chosen
    viewer.add_image(nuclei, name="again")
    assert widget._image is not None and PROMPTS_NAME in viewer.layers


@pytest.mark.parametrize("deleted", [PROMPTS_NAME, PREVIEW_NAME])
def test_deleted_prompts_or_preview_layer_comes_back_with_the_object(qtbot, open_widget, nuclei, deleted):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    viewer.layers[PROMPTS_NAME].add([100, 100])
    wait_idle(qtbot, widget)
    viewer.layers[PROMPTS_NAME].add([104, 104])
    wait_idle(qtbot, widget)
    mask = widget._result.to_full(nuclei.shape)
    viewer.layers.remove(deleted)
    qtbot.waitUntil(lambda: PROMPTS_NAME in viewer.layers and PREVIEW_NAME in viewer.layers, timeout=5000)
    prompts, preview = viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME]
    assert same_layer(widget._prompts, prompts) and same_layer(widget._preview, preview)
    np.testing.assert_array_equal(prompts.data, [[100, 100], [104, 104]])  # the clicks survived
    assert preview.data.astype(bool).sum() == mask.sum()
    assert "back" in widget.status_label.text()
    # Work goes on: a third click predicts, and commit writes the object.
    prompts.add([108, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    assert labels_of(widget._target.data) == {1}
    assert (np.asarray(widget._target.data) == 1).sum() >= mask.sum()
    # Removing the image ends the session: the layers do not come back.
    viewer.layers.remove("nuclei")
    qtbot.wait(100)
    assert PROMPTS_NAME not in viewer.layers and PREVIEW_NAME not in viewer.layers


def test_docs_list_every_shortcut():
    from pathlib import Path

    from napari_inter2former.ui.widget import shortcut_table

    usage = (Path(__file__).resolve().parents[1] / "docs" / "usage.md").read_text()
    assert shortcut_table() in usage
    for image in ("images/widget_2d.png", "images/widget_3d_carry.png"):
        assert image in usage and (Path(__file__).resolve().parents[1] / "docs" / image).stat().st_size < 300_000


def test_a_drag_is_one_undo_step(qtbot, open_widget, nuclei):
    from napari.layers.base import ActionType

    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    for step in range(1, 6):  # what napari does while a point is dragged
        prompts.data[0] = [100 + 4 * step, 100]
        prompts.events.data(value=prompts.data, action=ActionType.CHANGED, data_indices=(0,), vertex_indices=((),))
    wait_idle(qtbot, widget)
    assert widget._result.to_full(nuclei.shape)[120, 100]
    widget.undo()
    np.testing.assert_array_equal(prompts.data, [[100, 100]])
    wait_idle(qtbot, widget)
    assert widget._result.to_full(nuclei.shape)[100, 100] and not widget._result.to_full(nuclei.shape)[120, 100]
    widget.redo()
    np.testing.assert_array_equal(prompts.data, [[120, 100]])
    # after an undo (points rewritten by the widget) an in-place drag is still seen
    widget.undo()
    wait_idle(qtbot, widget)
    prompts.data[0] = [100, 140]
    prompts.events.data(value=prompts.data, action=ActionType.CHANGED, data_indices=(0,), vertex_indices=((),))
    wait_idle(qtbot, widget)
    assert widget._result.to_full(nuclei.shape)[100, 140] and not widget._result.to_full(nuclei.shape)[100, 100]


def test_default_predictor_falls_back_to_random_init_with_a_warning(qtbot, make_napari_viewer, nuclei, tmp_path):
    from napari_inter2former.session import default_weights_path

    viewer = make_napari_viewer()
    viewer.add_image(nuclei)
    _, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.journal_dir = tmp_path
    start = notification_count()
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget, timeout=60000)
    warned = any("randomly initialised" in m for m in notifications_since(start))
    assert warned != default_weights_path().exists()
    assert widget._result is not None and widget.last_latency_s > 0


def test_a_commit_mostly_blocked_by_other_objects_warns(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    own = np.zeros(nuclei.shape, np.uint16)
    own[80:120, 60:110] = 7  # the user's object
    target = viewer.add_labels(own, name="mine")
    widget.set_target(target)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 106])  # a disk mostly on label 7; overwriting is off
    wait_idle(qtbot, widget)
    start = notification_count()
    widget.commit()
    written = int((target.data == 8).sum())
    assert written > 0 and (target.data == 7).sum() == (own == 7).sum()
    assert any(f"label 8 got only {written} px" in m for m in notifications_since(start))
    # a failed commit does not leave the last success on the status line
    full = np.zeros(nuclei.shape, np.uint8)
    full[:15, :17] = np.arange(1, 256, dtype=np.uint8).reshape(15, 17)
    widget.set_target(viewer.add_labels(full, name="full"))
    prompts.add([200, 200])
    wait_idle(qtbot, widget)
    widget.commit()
    assert widget.status_label.text() == "commit failed: the object is kept"


def _one_committed_disk(qtbot, open_widget, nuclei):
    """(viewer, widget, prompts): label 1 committed around (100, 100)."""
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    widget.commit()
    return viewer, widget, prompts


def test_clicking_an_edited_label_away_says_how_to_delete_it(qtbot, open_widget, nuclei):
    viewer, widget, prompts = _one_committed_disk(qtbot, open_widget, nuclei)
    before = np.array(widget._target.data)
    widget.start_pick()
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    assert widget._obj is not None and widget._obj.label_id == 1
    widget.set_polarity(False)
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    assert widget._result.empty
    start = notification_count()
    widget.commit()
    assert any("edited label 1 would be empty" in m and "fill it with 0" in m for m in notifications_since(start))
    np.testing.assert_array_equal(widget._target.data, before)


def test_painting_the_label_being_edited_warns_that_the_commit_replaces_it(qtbot, open_widget, nuclei):
    viewer, widget, prompts = _one_committed_disk(qtbot, open_widget, nuclei)
    target = widget._target
    start = notification_count()
    target.paint((300, 300), 5)  # elsewhere, nothing being edited: no warning
    assert not any("is being edited" in m for m in notifications_since(start))
    widget.start_pick()
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    target.selected_label = 0
    target.paint((100, 100), 0)  # the eraser on the label being edited
    assert any("label 1 is being edited" in m and "Shift+C" in m for m in notifications_since(start))


def test_clicks_on_either_drawn_edge_of_the_image_are_inside(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=3), nuclei, name="nuclei")
    h, w = nuclei.shape
    prompts = viewer.layers[PROMPTS_NAME]
    start = notification_count()
    prompts.add([h - 0.5, w - 0.5])  # the far corner as drawn
    wait_idle(qtbot, widget)
    assert len(widget._points.coords) == 1 and not notifications_since(start)
    assert widget._result.to_full(nuclei.shape)[h - 1, w - 1]
    prompts.add([h - 0.4, 20])  # past the drawn edge: outside
    assert len(widget._points.coords) == 1
    assert any("outside the image" in m for m in notifications_since(start))


def test_the_status_line_and_hints_guide_a_first_time_user(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    # a 2-D grey image has no channel axis to choose: those rows are hidden
    assert widget.channel_axis_combo.isHidden() and widget.channel_rows[0].isHidden()
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    assert widget.status_label.text().startswith("Object in progress (1 click): ")
    assert "C to commit, Shift+C to discard" in widget.status_label.text()
    widget.commit()
    start = notification_count()
    prompts.add([101, 101])  # a new object's first click inside label 1
    wait_idle(qtbot, widget)
    assert any(m.startswith("Inside label 1: to change it, use 'Edit a label (pick)'")
               for m in notifications_since(start))


def test_channel_rows_show_for_a_stack(qtbot, open_widget):
    stack = np.random.default_rng(0).random((3, 64, 64)).astype(np.float32)
    viewer, widget = open_widget(DiskPredictor(grow=5), stack, name="stack")
    assert not widget.channel_axis_combo.isHidden() and not widget.channel_rows[1].isHidden()


def test_undo_says_when_older_steps_were_forgotten(qtbot, open_widget, nuclei):
    """The history keeps its last `limit` steps; past them undo says so instead of a bare
    "nothing to undo" that reads as if the session had no earlier steps (QA soak)."""
    from napari_inter2former.ui.history import History

    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    assert History.LIMIT >= 1000
    widget.history.limit = 4
    prompts = viewer.layers[PROMPTS_NAME]
    for y in (60, 160, 260):
        prompts.add([y, 100])
        wait_idle(qtbot, widget)
        widget.commit()
        wait_idle(qtbot, widget)
    assert widget.history.dropped == 2
    for _ in range(4):
        widget.undo()
    assert labels_of(widget._target.data) == {1}  # the first object's steps were forgotten
    widget.undo()
    assert "only the last 4 steps are kept" in widget.status_label.text()


def _full(widget, shape):
    return np.zeros(shape, bool) if widget._result is None else widget._result.to_full(shape)


def test_polarity_set_through_the_features_is_an_edit_and_new_points_keep_the_widgets(qtbot, open_widget, nuclei):
    """`prompts.features = ...` changed nothing on screen and made the next click negative; a
    flip made in place (napari's Features table, no event) rode into the next click's undo step
    (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei, name="A")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    prompts.add([100, 108])
    wait_idle(qtbot, widget)
    assert _full(widget, nuclei.shape)[100, 108]
    prompts.features = {"positive": np.array([True, False])}
    wait_idle(qtbot, widget)
    assert widget._points.positive.tolist() == [True, False] and not _full(widget, nuclei.shape)[100, 108]
    prompts.add([200, 200])  # the polarity button still says positive
    wait_idle(qtbot, widget)
    assert widget._points.positive.tolist() == [True, False, True]
    widget.undo()
    widget.undo()  # the click, then the flip: each its own step
    wait_idle(qtbot, widget)
    assert widget._points.positive.tolist() == [True, True]
    prompts.features.iat[1, 0] = False  # in place, as the Features table does: no event
    prompts.add([200, 200])
    wait_idle(qtbot, widget)
    assert widget._points.positive.tolist() == [True, True, True]
    assert prompts.features["positive"].tolist() == [True, True, True]  # shown as the widget has it
    widget.undo()
    assert widget._points.positive.tolist() == [True, True]


def test_moving_the_prompts_layer_by_hand_snaps_it_back_onto_the_image(qtbot, open_widget, nuclei):
    """A translate, scale or rotate set on the prompts layer sent clicks to other pixels, without
    a word (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei, name="A")
    prompts, preview = viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME]
    for change in ({"translate": (50, 0)}, {"scale": (2, 2)}, {"rotate": 30}):
        start = notification_count()
        layer = prompts if "rotate" not in change else preview
        for name, value in change.items():
            setattr(layer, name, value)
        assert any("stay on the image's pixels" in m for m in notifications_since(start)), change
        for own in (prompts, preview):
            assert np.allclose(own.affine.affine_matrix, np.eye(3)) and np.allclose(own.rotate, np.eye(2))
            assert np.allclose(own.scale, (1, 1)) and np.allclose(own.translate, (0, 0))
    prompts.add([150, 150])
    wait_idle(qtbot, widget)
    assert _full(widget, nuclei.shape)[150, 150]
    start = notification_count()
    viewer.layers["A"].scale = (0.5, 0.5)  # the image moved: the widget's layers follow, no message
    viewer.layers["A"].translate = (10, 20)
    assert not any("stay on the image" in m for m in notifications_since(start))
    assert np.allclose(prompts.scale, (0.5, 0.5)) and np.allclose(prompts.translate, (10, 20))


def test_paint_in_the_preview_is_redrawn_with_a_message(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei, name="A")
    prompts, preview = viewer.layers[PROMPTS_NAME], viewer.layers[PREVIEW_NAME]
    prompts.add([150, 150])
    wait_idle(qtbot, widget)
    shown = np.asarray(preview.data).copy()
    start = notification_count()
    preview.paint((150, 250), 1)  # napari's brush, far from the object
    qtbot.wait(50)
    assert any("paint on the target" in m for m in notifications_since(start))
    np.testing.assert_array_equal(np.asarray(preview.data), shown)


def test_buttons_take_no_keyboard_focus_and_prompt_colours_come_back(qtbot, open_widget, nuclei):
    """A clicked button kept the focus, so Space (napari's pan) pressed it again: an undo. A face
    colour set in the layer controls stayed for every later point (QA pass)."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QAbstractButton

    from napari_inter2former.ui.layers import NEGATIVE_COLOR, POSITIVE_COLOR
    from napari.utils.colormaps.standardize_color import transform_color

    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei, name="A")
    buttons = widget.findChildren(QAbstractButton)
    assert buttons and all(b.focusPolicy() == Qt.FocusPolicy.NoFocus for b in buttons)
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([100, 100])
    wait_idle(qtbot, widget)
    prompts.selected_data = {0}
    prompts.current_face_color = "blue"
    widget.commit()
    wait_idle(qtbot, widget)
    widget.set_polarity(False)
    prompts.add([200, 200])
    widget.set_polarity(True)
    prompts.add([210, 210])
    wait_idle(qtbot, widget)
    colours = np.asarray(prompts.face_color)
    assert np.allclose(colours[0], transform_color(NEGATIVE_COLOR)[0])
    assert np.allclose(colours[1], transform_color(POSITIVE_COLOR)[0])


def test_the_shipped_weights_load_in_the_background_as_the_widget_opens(qtbot, make_napari_viewer, nuclei,
                                                                        tmp_path, monkeypatch):
    """Loaded at the first click on the GUI thread, the weights froze napari for 0.4-2.6 s (QA)."""
    import threading

    import napari_inter2former.session as session

    made_in = []
    real = session.Predictor

    def recording(*args, **kwargs):
        made_in.append(threading.current_thread().name)
        return real(*args, **kwargs)

    monkeypatch.setattr(session, "Predictor", recording)
    if not session.default_weights_path().exists():
        pytest.skip("no shipped weights in this checkout")
    viewer = make_napari_viewer()
    viewer.add_image(nuclei)
    _, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.journal_dir = tmp_path / "journals"
    qtbot.waitUntil(lambda: widget._loader is not None and not widget._loader[0].is_alive(), timeout=30000)
    assert made_in == ["inter2former-weights"]
    viewer.layers[PROMPTS_NAME].add([150, 150])
    wait_idle(qtbot, widget, timeout=60000)
    assert made_in == ["inter2former-weights"] and widget._result is not None  # not loaded again


def test_the_status_says_when_no_positive_click_is_left(qtbot, open_widget, nuclei):
    """After the only positive point was deleted the status still offered T and C as if an
    object were there (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(grow=4), nuclei, name="A")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([150, 150])
    widget.set_polarity(False)
    prompts.add([150, 170])
    wait_idle(qtbot, widget)
    assert "T switches back to positive points" in widget.status_label.text()
    prompts.selected_data = {0}
    prompts.remove_selected()
    wait_idle(qtbot, widget)
    status = widget.status_label.text()
    assert "1 negative click" in status and "add a positive click" in status and "C to commit" not in status
