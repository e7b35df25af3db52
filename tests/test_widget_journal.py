"""The widget's journal when its place changes under it: a new journal folder, a deleted file,
an unwritable place, saving without a journal. Replay must still rebuild the live labels."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import DiskPredictor, labels_of, notification_count, notifications_since, wait_idle

from napari_inter2former.journal import read_journal, replay
from napari_inter2former.ui.layers import PROMPTS_NAME


def _commit_at(qtbot, viewer, widget, y, x):
    viewer.layers[PROMPTS_NAME].add([y, x])
    wait_idle(qtbot, widget)
    widget.commit()
    wait_idle(qtbot, widget)


def test_a_new_journal_folder_takes_the_open_journal_along(qtbot, open_widget, nuclei, tmp_path):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    _commit_at(qtbot, viewer, widget, 80, 80)
    _commit_at(qtbot, viewer, widget, 200, 220)
    old = widget.journal_path
    widget.choose_journal_dir(tmp_path / "elsewhere")
    assert widget.journal_path == tmp_path / "elsewhere" / old.name
    _commit_at(qtbot, viewer, widget, 300, 100)
    for _ in range(3):  # the third commit, its click, then the second: made before the folder changed
        widget.undo()
    rebuilt = replay(widget.journal_path)
    np.testing.assert_array_equal(rebuilt, np.asarray(widget._target.data))


def test_a_deleted_journal_starts_again_readable(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    _commit_at(qtbot, viewer, widget, 80, 80)
    path = widget.journal_path
    path.unlink()
    _commit_at(qtbot, viewer, widget, 200, 220)
    for _ in range(3):  # commit 2, its click, then commit 1: the one the new file never saw
        widget.undo()
    assert not widget._target.data.any()
    header, events = read_journal(path)
    assert "restarted" in header, header
    with pytest.warns(UserWarning, match="skipped undo 1"):
        rebuilt = replay(path)
    # the replay holds what the file holds: the second commit, undone
    assert not rebuilt.any()


def test_an_unwritable_place_next_to_the_target_falls_back_to_the_journal_folder(
        qtbot, open_widget, nuclei, tmp_path):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    folder = tmp_path / "share"
    folder.mkdir()
    tifffile.imwrite(folder / "seg.tif", np.zeros(nuclei.shape, np.uint16))
    target = viewer.open(folder / "seg.tif", layer_type="labels")[0]
    widget.set_target(target)
    (folder / "seg.tif").unlink()
    folder.rmdir()
    folder.write_text("a file where the folder was")  # the journal cannot go next to the target
    start = notification_count()
    _commit_at(qtbot, viewer, widget, 80, 80)
    assert widget.journal_path.parent == widget.journal_dir
    assert any("the journal is at" in m for m in notifications_since(start))
    np.testing.assert_array_equal(replay(widget.journal_path), np.asarray(target.data))


def test_saving_without_a_journal_says_so_and_starts_one_beside_the_file(qtbot, open_widget, nuclei, tmp_path):
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder")
    widget.journal_dir = blocker / "journals"
    start = notification_count()
    _commit_at(qtbot, viewer, widget, 80, 80)
    assert widget.journal_path is None
    assert any("cannot write the journal" in m for m in notifications_since(start))
    start = notification_count()
    widget.save_segmentation(tmp_path / "seg.tif")
    messages = notifications_since(start)
    assert not any("and its journal" in m for m in messages), messages
    assert widget.journal_path == tmp_path / "seg.journal.jsonl"  # journaled from now on
    _commit_at(qtbot, viewer, widget, 200, 220)
    _, events = read_journal(widget.journal_path)
    assert [e["type"] for e in events if e["type"] == "commit"] == ["commit"]


def test_brush_eraser_and_fill_edits_are_replayed(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=8), nuclei, name="nuclei")
    target = widget._target
    _commit_at(qtbot, viewer, widget, 80, 80)
    target.brush_size = 9
    target.paint((120, 120), 50)  # napari's brush, a new id by hand
    target.paint((84, 84), 0)  # napari's eraser, inside the widget's object
    _commit_at(qtbot, viewer, widget, 118, 112)  # partly blocked by the brushed label 50
    target.fill((120, 120), 7)  # napari's bucket fill turns label 50 into 7
    filled = np.asarray(target.data).copy()
    widget.undo()  # the fill (hand edits are in the widget's history)
    assert 50 in target.data and 7 not in target.data
    widget.redo()
    np.testing.assert_array_equal(target.data, filled)
    _commit_at(qtbot, viewer, widget, 250, 250)
    live = np.asarray(target.data)
    assert {7, 1} <= set(np.unique(live).tolist())
    np.testing.assert_array_equal(replay(widget.journal_path), live)
    _, events = read_journal(widget.journal_path)
    # brush, eraser, fill, the fill's undo and redo; the widget's own writes are commits
    assert sum(e["type"] == "paint" for e in events) == 5


def test_ctrl_z_after_a_brush_stroke_undoes_the_stroke_not_the_commit(qtbot, open_widget, nuclei):
    viewer, widget = open_widget(DiskPredictor(grow=8), nuclei, name="nuclei")
    target = widget._target
    _commit_at(qtbot, viewer, widget, 80, 80)
    committed = np.asarray(target.data).copy()
    target.brush_size = 11
    target.paint((80, 90), 5)  # across the object's edge
    viewer.layers.selection.active = target
    keys = viewer.window._qt_viewer._key_map_handler
    keys.press_key("Control-Z")
    keys.release_key("Control-Z")
    np.testing.assert_array_equal(target.data, committed)
    assert "undid: hand edit" in widget.status_label.text()


def test_a_redone_commit_is_not_reported_as_an_object_in_progress(qtbot, open_widget, nuclei):
    import warnings

    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([80, 80])
    wait_idle(qtbot, widget)
    _commit_at(qtbot, viewer, widget, 80, 90)  # a second click, then commit
    widget.undo()  # the commit
    widget.undo()  # the second click
    widget.redo()
    widget.redo()  # the commit again: nothing is in progress
    wait_idle(qtbot, widget)
    assert widget._obj is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "ends with an object in progress" was warned here
        rebuilt = replay(widget.journal_path)
    np.testing.assert_array_equal(rebuilt, np.asarray(widget._target.data))
    assert rebuilt.any()


def test_a_file_older_than_its_journal_gives_new_ids_above_the_journals(qtbot, open_widget, nuclei, tmp_path):
    # A crash after a commit that was journaled but not saved; the saved file is reopened. The
    # next object took the lost commit's id, and a replay merged the two objects.
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    _commit_at(qtbot, viewer, widget, 80, 80)
    widget.save_segmentation(tmp_path / "seg.tif")
    _commit_at(qtbot, viewer, widget, 200, 220)  # label 2: in the journal only
    journal = widget.journal_path
    widget.shutdown()
    viewer2, widget2 = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    reopened = viewer2.open(tmp_path / "seg.tif", layer_type="labels")[0]
    widget2.set_target(reopened)
    start = notification_count()
    _commit_at(qtbot, viewer2, widget2, 300, 100)
    assert widget2.journal_path == journal  # the journal beside the file goes on
    assert set(np.unique(reopened.data)) == {0, 1, 3}
    assert any("napari-inter2former replay" in n and "label 2" in n for n in notifications_since(start))
    rebuilt = replay(journal)
    assert [(rebuilt == k).sum() > 0 for k in (1, 2, 3)] == [True, True, True]


def test_two_widgets_on_same_named_images_write_separate_journals(qtbot, open_widget, nuclei, monkeypatch):
    import time

    monkeypatch.setattr(time, "strftime", lambda fmt, *args: "20261202-120000")  # the same second
    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    viewer2, widget2 = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    widget2._tokens = iter(range(1, 1000))  # the counter that made both names end in "-2"
    widget._tokens = iter(range(1, 1000))
    _commit_at(qtbot, viewer, widget, 80, 80)
    _commit_at(qtbot, viewer2, widget2, 200, 220)
    assert widget.journal_path != widget2.journal_path
    np.testing.assert_array_equal(replay(widget.journal_path), np.asarray(widget._target.data))
    np.testing.assert_array_equal(replay(widget2.journal_path), np.asarray(widget2._target.data))


def test_events_waiting_for_a_write_go_out_when_the_widget_lets_go(qtbot, open_widget, nuclei, monkeypatch):
    import errno
    import os

    viewer, widget = open_widget(DiskPredictor(grow=5), nuclei, name="nuclei")
    viewer.layers[PROMPTS_NAME].add([80, 80])
    wait_idle(qtbot, widget)
    path, fsync = widget.journal_path, os.fsync

    def disk_full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    widget.commit()
    assert widget._journal.unwritten >= 1
    monkeypatch.setattr(os, "fsync", fsync)  # space freed, then the widget is closed
    widget.shutdown()
    assert [e["type"] for e in read_journal(path)[1]].count("commit") == 1
    np.testing.assert_array_equal(replay(path), np.asarray(widget._target.data))


def test_carried_slices_journal_the_range_they_were_predicted_with(qtbot, open_widget):
    from napari_inter2former._sample_data import nuclei_3d

    volume = nuclei_3d()[0][0]
    viewer, widget = open_widget(DiskPredictor(grow=6, delay_s=0.2), volume, name="stack")
    image = viewer.layers["stack"]
    image.contrast_limits = (0.0, 200.0)
    widget.contrast_check.setChecked(True)
    viewer.dims.set_current_step(0, 10)
    viewer.layers[PROMPTS_NAME].add([10, 64, 64])
    wait_idle(qtbot, widget)
    widget.carry_spin.setValue(4)
    widget.carry_through()
    qtbot.waitUntil(lambda: len(widget._carry_state.get("patches", [])) >= 1, timeout=30000)
    image.contrast_limits = (50.0, 120.0)  # while the run goes on with the range it started with
    qtbot.waitUntil(lambda: widget._carry_job is None and not widget.busy, timeout=30000)
    commits = [e for e in read_journal(widget.journal_path)[1] if e["type"] == "commit"]
    assert len(commits) == 5 and all(c["intensity_range"] == [0.0, 200.0] for c in commits)


def test_undo_of_a_brush_drag_takes_all_of_it_back(qtbot, open_widget):
    viewer, widget = open_widget(DiskPredictor(), np.zeros((100, 100), np.uint8), name="img")
    target = widget._target
    target.brush_size = 7
    target.mode = "paint"
    with target.block_history():  # what napari's mouse drag does: several dabs, one edit
        target._draw(5, [50, 40], [50, 40])
        target._draw(5, [50, 40], [52, 46])
    painted = np.asarray(target.data).copy()
    assert (painted == 5).sum() > 50
    widget.undo()
    assert not np.asarray(target.data).any()  # 14 of 81 px used to stay
    widget.redo()
    np.testing.assert_array_equal(np.asarray(target.data), painted)
    np.testing.assert_array_equal(replay(widget.journal_path), painted)


def test_a_session_that_starts_with_a_brush_stroke_replays_without_a_warning(qtbot, open_widget):
    import warnings

    viewer, widget = open_widget(DiskPredictor(), np.zeros((100, 100), np.uint8), name="img")
    target = widget._target
    target.brush_size = 5
    target.selected_label = 7
    target.mode = "paint"
    target._draw(7, [50, 40], [50, 40])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "began on a target that already held labels" was warned
        rebuilt = replay(widget.journal_path)
    np.testing.assert_array_equal(rebuilt, np.asarray(target.data))


def test_new_ids_go_above_the_values_painted_not_the_selected_label(qtbot, open_widget, nuclei):
    """A script painting id 2 with label 1 selected got id 2 reused by the next commit (two
    objects merged); an eraser stroke with label 5000 selected pushed new ids to 5001 (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    target = widget._target
    _commit_at(qtbot, viewer, widget, 60, 60)
    target.brush_size = 5
    target.paint((150, 150), 2)  # selected_label is still 1
    _commit_at(qtbot, viewer, widget, 250, 250)
    assert labels_of(target.data) == {1, 2, 3}
    target.selected_label = 5000
    target.paint((150, 150), 0)  # the eraser, whatever label is selected
    _commit_at(qtbot, viewer, widget, 350, 100)
    assert labels_of(target.data) == {1, 3, 4}


def test_an_undone_stroke_of_the_largest_id_leaves_ids_to_commit_with(qtbot, open_widget, nuclei):
    """A uint16 target painted with 65535 and undone refused every later commit ("no id left")."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    target = widget._target
    target.brush_size = 3
    target.paint((150, 150), 65535)
    widget.undo()
    assert labels_of(target.data) == set()
    _commit_at(qtbot, viewer, widget, 60, 60)
    assert labels_of(target.data) == {1}


def test_picking_is_refused_during_an_object_and_ends_with_a_commit(qtbot, open_widget, nuclei):
    """Pick mode swallowed the next click: armed during an object in progress it refused that
    click; left armed by C, the next new object's first click was taken for a pick (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    prompts = viewer.layers[PROMPTS_NAME]
    prompts.add([60, 60])
    wait_idle(qtbot, widget)
    widget.start_pick()
    assert not widget._pick_mode
    prompts.add([62, 62])  # a second click on the same object, not lost
    wait_idle(qtbot, widget)
    assert len(widget._points.coords) == 2
    widget.commit()
    wait_idle(qtbot, widget)
    widget.start_pick()
    widget.commit()  # nothing to commit, and no pick any more
    prompts.add([250, 250])
    wait_idle(qtbot, widget)
    assert widget._obj is not None and len(widget._points.coords) == 1


def test_a_commit_landing_during_a_brush_drag_stays_its_own_undo_step(qtbot, open_widget, nuclei):
    """napari staged the commit's write into the user's stroke: one Ctrl+Z took back both the
    stroke and the commit (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(delay_s=0.8), nuclei, name="A")
    target = widget._target
    viewer.layers[PROMPTS_NAME].add([60, 60])
    widget.commit()  # waits for the prediction
    target.brush_size, target.selected_label, target.mode = 5, 9, "paint"
    target._begin_stroke()  # mouse press
    target._draw(9, [250, 250], [250, 250])
    wait_idle(qtbot, widget)  # the prediction arrives mid-drag and the commit lands
    target._draw(9, [250, 250], [250, 262])
    target._commit_stroke()  # mouse release
    assert labels_of(target.data) == {1, 9}
    widget.undo()  # the stroke only
    assert labels_of(target.data) == {1}
    widget.undo()  # then the commit
    assert labels_of(target.data) == set()
    widget.redo()
    widget.redo()
    assert np.array_equal(replay(widget.journal_path), np.asarray(target.data))


def test_a_refused_pick_leaves_picking_on(qtbot, open_widget, nuclei):
    """A pick on the background ended pick mode while the status still asked for a pick, so the
    user's next click, inside the label, started a new object instead (QA pass)."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    prompts = viewer.layers[PROMPTS_NAME]
    _commit_at(qtbot, viewer, widget, 100, 250)
    widget.start_pick()
    start = notification_count()
    prompts.add([10, 10])  # background
    assert any("There is no label there" in n for n in notifications_since(start))
    assert widget._pick_mode and "Shift+C cancels" in widget.status_label.text()
    prompts.add([100, 250])  # inside label 1: the pick
    wait_idle(qtbot, widget)
    assert widget._obj is not None and widget._obj.label_id == 1


def test_a_pick_at_the_far_edge_of_the_image_picks_the_last_pixel(qtbot, open_widget, nuclei):
    """A click at the image's far edge (size - 0.5) is taken as the last pixel; a pick there
    was refused as outside the image (the two roundings differed)."""
    viewer, widget = open_widget(DiskPredictor(), nuclei, name="A")
    h, w = nuclei.shape
    widget._target.data[100:110, w - 5:] = 7
    widget.start_pick()
    viewer.layers[PROMPTS_NAME].add([105, w - 0.5])
    wait_idle(qtbot, widget)
    assert widget._obj is not None and widget._obj.label_id == 7
