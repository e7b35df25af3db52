"""Journal: planes, painting rules, run-length masks, the file format, replay (API and CLI). No napari."""

from __future__ import annotations

import json

import dask.array as da
import numpy as np
import pytest
import tifffile

from napari_inter2former._sample_data import nuclei_2d
from napari_inter2former.cli import main as cli_main
from napari_inter2former.journal import (
    JournalError,
    JournalWriter,
    LabelError,
    PlaneSpec,
    PlaneView,
    decode_mask,
    encode_mask,
    paint_object,
    read_journal,
    recorded_window_policy,
    replay,
)
from napari_inter2former.session import Click, Predictor, WindowPolicy


@pytest.mark.parametrize("mask", [
    np.zeros((5, 7), bool), np.ones((4, 3), bool), np.eye(6, dtype=bool),
    np.random.default_rng(0).random((40, 33)) > 0.6,
])
def test_rle_round_trip(mask):
    raw = json.loads(json.dumps(encode_mask(mask, (10, 20))))
    out, offset = decode_mask(raw)
    full = np.zeros((60, 60), bool)
    full[10:10 + mask.shape[0], 20:20 + mask.shape[1]] = mask
    back = np.zeros((60, 60), bool)
    back[offset[0]:offset[0] + out.shape[0], offset[1]:offset[1] + out.shape[1]] = out
    np.testing.assert_array_equal(back, full)


def test_plane_view_reads_and_writes_any_axis_order():
    data = np.arange(2 * 3 * 10 * 12).reshape(2, 3, 10, 12)
    view = PlaneView(da.from_array(data, chunks=(1, 1, 5, 5)), PlaneSpec((1, None, None, None), 2, 3, 1))
    assert view.shape == (10, 12, 3)
    np.testing.assert_array_equal(view[2:4, 3:5], np.moveaxis(data[1, :, 2:4, 3:5], 0, -1))
    transposed = PlaneView(data, PlaneSpec((1, 2, None, None), 3, 2))  # rows = axis 3
    assert transposed.shape == (12, 10)
    np.testing.assert_array_equal(transposed[3:5, 2:4], data[1, 2, 2:4, 3:5].T)
    labels = np.zeros((3, 10, 12), np.uint16)
    PlaneView(labels, PlaneSpec((None, 2, None), 2, 0)).write(1, 3, 0, 2, np.array([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(labels[0:2, 2, 1:3], [[1, 3], [2, 4]])
    with pytest.raises(IndexError):
        PlaneView(labels, PlaneSpec((5, None, None), 1, 2))


def test_painting_protects_other_objects_and_clears_shrunk_pixels():
    labels = np.zeros((1, 30, 30), np.uint8)
    plane = PlaneView(labels, PlaneSpec((0, None, None), 1, 2))
    first = paint_object(plane, np.ones((10, 10), bool), (5, 5), 1)
    assert first.written == 100 and first.blocked == 0
    second = paint_object(plane, np.ones((10, 10), bool), (10, 10), 2)
    assert second.written == 75 and second.blocked == 25
    assert (labels == 1).sum() == 100 and (labels == 2).sum() == 75
    third = paint_object(plane, np.ones((4, 4), bool), (12, 12), 3, overwrite=True)
    assert third.written == 16 and (labels == 1).sum() == 100 - 9
    # re-painting label 2 smaller clears its pixels inside the region that are no longer in the mask
    paint_object(plane, np.ones((3, 3), bool), (17, 17), 2, extra_box=(10, 20, 10, 20))
    assert (labels == 2).sum() == 9
    third.undo()
    assert (labels == 3).sum() == 0
    with pytest.raises(LabelError, match="does not fit"):
        paint_object(plane, np.ones((2, 2), bool), (0, 0), 256)
    with pytest.raises(LabelError, match="outside"):
        paint_object(plane, np.ones((2, 2), bool), (40, 40), 4)


def _commit(seq, label_id, mask, offset, clicks=(), seed=None):
    spec = PlaneSpec((None, None), 0, 1).to_json()
    return {"type": "commit", "seq": seq, "id": label_id, "image_plane": spec, "target_plane": spec,
            "clicks": [[c.y, c.x, int(c.positive)] for c in clicks], "seed": seed,
            "mask": encode_mask(mask, offset), "overwrite": False, "extra_box": None}


def test_journal_file_survives_a_truncated_last_line(tmp_path):
    path = tmp_path / "a.journal.jsonl"
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    writer.append(_commit(1, 1, np.ones((3, 3), bool), (2, 2)))
    writer.append(_commit(2, 2, np.ones((3, 3), bool), (10, 10)))
    with open(path, "a") as fh:
        fh.write('{"type": "commit", "seq": 3, "id"')  # a crash mid-write
    header, events = read_journal(path)
    assert header["format"] == "napari-inter2former-journal" and len(events) == 2
    with pytest.warns(UserWarning, match=r"the last line \(4\) was cut off"):
        labels = replay(path)
    assert labels.dtype == np.uint16 and (labels == 1).sum() == 9 and (labels == 2).sum() == 9
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0], "{broken", lines[1]]) + "\n")
    with pytest.raises(JournalError, match="damaged"):
        read_journal(path)
    (tmp_path / "x.jsonl").write_text('{"format": "other"}\n')
    with pytest.raises(JournalError):
        read_journal(tmp_path / "x.jsonl")


def test_replay_follows_undo_and_redo(tmp_path):
    path = tmp_path / "b.journal.jsonl"
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint32"}})
    writer.append(_commit(1, 1, np.ones((5, 5), bool), (0, 0)))
    writer.append(_commit(2, 2, np.ones((5, 5), bool), (3, 3)))  # overlaps 1: only its free pixels
    writer.append({"type": "undo", "seq": 2})
    writer.append({"type": "undo", "seq": 1})
    writer.append({"type": "redo", "seq": 1})
    writer.append(_commit(3, 3, np.ones((2, 2), bool), (15, 15)))
    labels = replay(path)
    assert set(np.unique(labels)) == {0, 1, 3} and (labels == 1).sum() == 25
    writer.append({"type": "redo", "seq": 2})  # impossible: a commit came after the undo
    with pytest.raises(JournalError, match="redo"):
        replay(path)


def test_replay_predict_mode_reproduces_the_session(tmp_path, capsys):
    image = nuclei_2d()[0][0]
    predictor = Predictor(weights=None, seed=2)
    predictor.set_image(image)
    clicks = [Click(120, 140, True), Click(126, 150, True), Click(110, 130, False)]
    session = predictor.new_session()
    for c in clicks:
        result = session.add_click(c.y, c.x, c.positive)
    path = tmp_path / "c.journal.jsonl"
    writer = JournalWriter(path, {"image": {"path": None}, "target": {"shape": list(image.shape), "dtype": "uint16"}})
    writer.append(_commit(1, 1, result.mask, result.offset, clicks))
    from_masks = replay(path)
    from_model = replay(path, image=image, mode="predict", predictor=Predictor(weights=None, seed=2))
    np.testing.assert_array_equal(from_masks == 1, result.to_full(image.shape))
    np.testing.assert_array_equal(from_model, from_masks)
    with pytest.raises(JournalError, match="image"):
        replay(path, mode="predict")

    # the command line
    out = tmp_path / "out.tif"
    assert cli_main(["replay", str(path), "-o", str(out)]) == 0
    np.testing.assert_array_equal(tifffile.imread(out), from_masks)
    assert f"{len(set(np.unique(from_masks).tolist()) - {0})} objects" in capsys.readouterr().out
    np.save(tmp_path / "image.npy", image)
    out2 = tmp_path / "out2.npy"
    assert cli_main(["replay", str(path), "--mode", "predict", "--image", str(tmp_path / "image.npy"),
                     "--weights", "random", "--seed", "2", "-o", str(out2)]) == 0
    np.testing.assert_array_equal(np.load(out2), from_masks)
    assert cli_main(["replay", str(path), "--mode", "predict"]) == 2  # no image anywhere
    assert cli_main(["replay", str(tmp_path / "missing.jsonl")]) == 2


def test_predict_mode_says_when_the_model_does_not_reproduce_the_recorded_masks(tmp_path, capsys):
    image = nuclei_2d()[0][0]
    predictor = Predictor(weights=None, seed=2)
    predictor.set_image(image)
    result = predictor.new_session().add_click(120, 140)
    path = tmp_path / "d.journal.jsonl"
    writer = JournalWriter(path, {"image": {"path": None}, "target": {"shape": list(image.shape), "dtype": "uint16"}})
    writer.append(_commit(1, 1, result.mask, result.offset, [Click(120, 140, True)]))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the same weights: silent
        replay(path, image=image, mode="predict", predictor=Predictor(weights=None, seed=2))
    with pytest.warns(UserWarning, match=r"predict mode: 1 of 1 objects differ .*\(\d+ pixels in all\)"):
        replay(path, image=image, mode="predict", predictor=Predictor(weights=None, seed=3))
    np.save(tmp_path / "image.npy", image)
    assert cli_main(["replay", str(path), "--mode", "predict", "--image", str(tmp_path / "image.npy"),
                     "--weights", "random", "--seed", "3", "-o", str(tmp_path / "o.tif")]) == 0
    assert "warning: predict mode: 1 of 1 objects differ" in capsys.readouterr().err


def test_replay_reports_unfinished_and_unknown_events(tmp_path):
    path = tmp_path / "e.journal.jsonl"
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    writer.append({"type": "prompts", "clicks": [[1, 1, 1]], "label_id": 1})  # committed just after
    writer.append(_commit(1, 1, np.ones((3, 3), bool), (2, 2)))
    writer.append({"type": "comit", "seq": 2})
    with pytest.warns(UserWarning, match="unknown type: 'comit'"):
        replay(path)
    writer.append({"type": "prompts", "clicks": [[8, 8, 1], [9, 9, 0]], "label_id": 2})
    with pytest.warns(UserWarning, match=r"ends with an object in progress \(2 clicks, never committed\)"):
        replay(path)


@pytest.mark.parametrize("lines, message", [
    (["[1, 2, 3]"], "line 2 is not an event"),
    (['{"type": "commit", "seq": 1, "id": 1}'], r"line 2 \(commit event\) cannot be replayed: missing field"),
    (['{"type": "commit", "seq": 1, "id": 1, "target_plane": {"axes": [0, 1]}, '
      '"mask": {"offset": [0, 0], "shape": [2, 2], "counts": [-1, 5]}}'], "cannot be replayed"),
    (['{"type": "undo"}'], "cannot be replayed: missing field 'seq'"),
])
def test_malformed_events_give_a_journal_error(tmp_path, lines, message):
    path = tmp_path / "f.journal.jsonl"
    JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    with open(path, "a") as fh:
        fh.write("\n".join(lines) + "\n\n")
    with pytest.raises(JournalError, match=message):
        replay(path)


@pytest.mark.parametrize("header, message", [
    ({"target": {"dtype": "uint16"}}, "does not describe its target .*missing field 'shape'"),
    ({"target": {"shape": [4, 4], "dtype": "float128x"}}, "does not describe its target"),
    ({"version": "one", "target": {"shape": [4, 4], "dtype": "uint8"}}, "version 'one' is not a number"),
])
def test_bad_headers_give_a_journal_error(tmp_path, header, message):
    path = tmp_path / "g.journal.jsonl"
    JournalWriter(path, header)
    with pytest.raises(JournalError, match=message):
        replay(path)


def test_an_image_passed_as_the_journal_is_named(tmp_path, capsys):
    path = tmp_path / "img.tif"
    tifffile.imwrite(path, np.arange(256, dtype=np.uint8).reshape(16, 16))
    assert cli_main(["replay", str(path)]) == 2
    assert "is not a text file: pass the journal" in capsys.readouterr().err


def test_predict_mode_uses_the_recorded_window_policy(tmp_path, monkeypatch):
    assert recorded_window_policy({"model": {"weights": "x"}}) is None  # journals from before
    header = {"model": {"window_policy": {"shrink": False, "max_zoom": 1.0, "from_a_newer_version": 3}}}
    # probe_levels, overhang, mirror_average, flip_probes and soft_resample came later: a journal
    # without them ran one probe level, windows inside the image, one view, probes in every view
    # and resampled decodes brought back as binary masks.
    old = WindowPolicy(shrink=False, max_zoom=1.0, probe_levels=1, overhang=0, mirror_average=False, flip_probes=True,
                       soft_resample=False)
    assert recorded_window_policy(header) == old
    recorded = {"probe_levels": 3, "overhang": 96, "mirror_average": True}
    assert recorded_window_policy({"model": {"window_policy": recorded}}) == WindowPolicy(probe_levels=3, flip_probes=True,
                                                                                          soft_resample=False)
    newer = {**recorded, "flip_probes": False, "soft_resample": True}
    assert recorded_window_policy({"model": {"window_policy": newer}}) == WindowPolicy()
    image = nuclei_2d()[0][0]
    path = tmp_path / "p.journal.jsonl"
    writer = JournalWriter(path, {"image": {"path": None}, "target": {"shape": list(image.shape), "dtype": "uint16"},
                                  **header})
    predictor = Predictor(weights=None, seed=2, window_policy=old)
    predictor.set_image(image)
    clicks = [Click(120, 140, True)]
    result = predictor.new_session().add_click(120, 140)
    writer.append(_commit(1, 1, result.mask, result.offset, clicks))
    made = []
    import napari_inter2former.session as session_module

    class Recording(Predictor):
        def __init__(self, *args, **kwargs):
            kwargs["weights"] = None  # the test does not need trained weights
            super().__init__(*args, seed=2, **{k: v for k, v in kwargs.items() if k != "seed"})
            made.append(self.window_policy)

    monkeypatch.setattr(session_module, "Predictor", Recording)
    rebuilt = replay(path, image=image, mode="predict")
    assert made == [old]
    np.testing.assert_array_equal(rebuilt == 1, result.to_full(image.shape))
    np.save(tmp_path / "image.npy", image)
    assert cli_main(["replay", str(path), "--mode", "predict", "--image", str(tmp_path / "image.npy"),
                     "--weights", "random", "--seed", "2", "-o", str(tmp_path / "o.npy")]) == 0
    assert made[-1] == old


def test_an_edit_clears_its_label_only_over_the_mask_and_the_old_extent():
    # label 1 in two pieces; the edit's decoding window covers both, its mask only the first
    labels = np.zeros((300, 300), np.uint16)
    labels[50:90, 50:90] = 1
    labels[250:260, 250:260] = 1
    window = np.zeros((270, 270), bool)
    window[55:95, 55:95] = True  # the edited object, moved a little
    journal_mask = decode_mask(encode_mask(window, (0, 0)))
    live, replayed = labels.copy(), labels.copy()
    spec = PlaneSpec((None, None), 0, 1)
    paint_object(PlaneView(live, spec), window, (0, 0), 1, extra_box=(40, 100, 40, 100))
    paint_object(PlaneView(replayed, spec), *journal_mask, 1, extra_box=(40, 100, 40, 100))
    np.testing.assert_array_equal(live, replayed)
    assert (live[250:260, 250:260] == 1).all()  # the other piece is not part of the edit
    assert not live[50:55, 50:90].any() and (live[55:95, 55:95] == 1).all()


def test_hand_edit_records_round_trip_for_both_napari_atom_kinds():
    from collections import namedtuple

    from napari_inter2former.journal.hand_edits import (
        apply_edit,
        encode_edit,
        sequential_edits,
        touched_box,
    )

    def edited_values(atom, data, box):
        ((_, _, after),) = sequential_edits([atom], data, [box])
        return after

    data = np.zeros((2, 40, 40), np.uint16)
    # the fancy-index kind (data_setitem): the array may still hold the old values
    indices = (np.array([1, 1, 1]), np.array([5, 6, 9]), np.array([7, 7, 8]))
    atom = (indices, np.zeros(3, np.uint16), np.array([3, 4, 5], np.uint16))
    box = touched_box(atom, data.shape)
    assert box == (slice(1, 2), slice(5, 10), slice(7, 9))
    rebuilt = np.zeros_like(data)
    apply_edit(rebuilt, json.loads(json.dumps(encode_edit(box, edited_values(atom, data, box)))))
    assert rebuilt[1, 5, 7] == 3 and rebuilt[1, 6, 7] == 4 and rebuilt[1, 9, 8] == 5 and rebuilt.sum() == 12
    # the masked kind (brush, eraser, fill): a box, the changed pixels in it, one new value
    Masked = namedtuple("Masked", "slice_key mask old_values new_value")
    mask = np.zeros((1, 3, 3), bool)
    mask[0, 1, :] = True
    atom = Masked((slice(0, 1), slice(20, 23), slice(30, 33)), mask, np.zeros(3), 9)
    box = touched_box(atom, data.shape)
    apply_edit(rebuilt, encode_edit(box, edited_values(atom, rebuilt, box)))
    assert (rebuilt[0, 21, 30:33] == 9).all() and rebuilt[0].sum() == 27


def test_replay_refuses_an_output_it_would_misname(tmp_path, capsys):
    path = tmp_path / "h.journal.jsonl"
    JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}}).append(
        _commit(1, 1, np.ones((3, 3), bool), (2, 2)))
    assert cli_main(["replay", str(path), "-o", str(tmp_path / "x.png")]) == 2
    assert "must end in .tif, .tiff or .npy" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()


def test_replay_messages_begin_like_every_subcommand(tmp_path, capsys):
    path = tmp_path / "i.journal.jsonl"
    JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}}).append({"type": "undo"})
    assert cli_main(["replay", str(path), "-o", str(tmp_path / "o.tif")]) == 2
    assert capsys.readouterr().err.strip().startswith("napari-inter2former replay: error: line 2 (undo event)")


def test_replay_warns_when_the_journal_began_on_a_non_empty_target(tmp_path):
    path = tmp_path / "j.journal.jsonl"
    JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16", "start_next_id": 8}}).append(
        _commit(1, 8, np.ones((3, 3), bool), (2, 2)))
    with pytest.warns(UserWarning, match="began on a target that already held labels .*--labels"):
        replay(path)
    start = np.zeros((20, 20), np.uint16)
    start[10:12, 10:12] = 7
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # given the starting labels: nothing to warn about
        labels = replay(path, labels=start)
    assert set(np.unique(labels)) == {0, 7, 8}


def _two_commits_journal(path):
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    writer.append(_commit(1, 1, np.ones((3, 3), bool), (2, 2)))
    return writer


def test_appending_after_a_torn_last_line_keeps_the_journal_replayable(tmp_path):
    # A crash mid-write, then the file is continued (its seg.tif reopened): the new events used
    # to land after the half line, and the whole journal became "damaged" for replay.
    path = tmp_path / "seg.journal.jsonl"
    _two_commits_journal(path)
    with open(path, "a") as fh:
        fh.write('{"type": "commit", "seq": 2, "id"')
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    writer.append(_commit(2, 2, np.ones((3, 3), bool), (10, 10)))
    labels = replay(path)
    assert (labels == 1).sum() == 9 and (labels == 2).sum() == 9


def test_a_write_that_fails_half_way_loses_no_event(tmp_path, monkeypatch):
    # Disk full during a write: part of the line reaches the file, then the error. The part is
    # taken back and the event waits in memory; the next write sends both, in order.
    import errno
    import os

    path = tmp_path / "a.journal.jsonl"
    writer = _two_commits_journal(path)
    before = path.stat().st_size
    real_fsync = os.fsync

    def disk_full(fd):
        os.ftruncate(fd, before + 10)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    with pytest.raises(OSError):
        writer.append(_commit(2, 2, np.ones((3, 3), bool), (10, 10)))
    assert writer.unwritten == 1 and path.stat().st_size == before
    monkeypatch.setattr(os, "fsync", real_fsync)
    writer.append(_commit(3, 3, np.ones((3, 3), bool), (15, 15)))
    assert writer.unwritten == 0
    labels = replay(path)
    assert [(labels == k).sum() for k in (1, 2, 3)] == [9, 9, 9]


def test_two_writers_never_share_a_journal(tmp_path):
    from napari_inter2former.journal.journal import JournalInUse

    path = tmp_path / "seg.journal.jsonl"
    first = _two_commits_journal(path)
    with pytest.raises(JournalInUse):
        JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    other = tmp_path / "other.journal.jsonl"
    other.write_text('{"format": "napari-inter2former-journal"}\n')  # no writer holds it
    with pytest.raises(FileExistsError):  # a new session's name is taken exclusively
        JournalWriter(other, {}, exclusive=True)
    moved = first.relocate(tmp_path / "saved" / "seg.journal.jsonl")
    assert not list(moved.parent.glob("*.partial"))
    JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})  # released by the move
    assert (replay(moved) == 1).sum() == 9


def test_a_journal_emptied_meanwhile_starts_again_with_its_header(tmp_path):
    path = tmp_path / "a.journal.jsonl"
    writer = _two_commits_journal(path)
    path.write_text("")  # emptied by something else
    writer.append(_commit(2, 2, np.ones((3, 3), bool), (10, 10)))
    header, events = read_journal(path)
    assert "restarted" in header and [e["seq"] for e in events] == [2]


def test_a_whole_last_event_without_its_newline_is_kept(tmp_path):
    path = tmp_path / "a.journal.jsonl"
    _two_commits_journal(path)
    path.write_text(path.read_text().rstrip("\n"))  # e.g. saved by an editor
    writer = JournalWriter(path, {"target": {"shape": [20, 20], "dtype": "uint16"}})
    writer.append(_commit(2, 2, np.ones((3, 3), bool), (10, 10)))
    assert [e["seq"] for e in read_journal(path)[1]] == [1, 2]


def test_a_drag_of_several_dabs_is_undone_exactly():
    # napari reports a brush drag as one edit of several overlapping dabs. Each dab's "before"
    # was taken from the array after the whole drag, so undo left later dabs' paint behind.
    from collections import namedtuple

    from napari_inter2former.journal.hand_edits import sequential_edits, touched_box

    Masked = namedtuple("Masked", "slice_key mask old_values new_value")
    start = np.zeros((30, 30), np.uint8)
    start[10:20, 10:20] = 2  # another label under part of the drag
    data = start.copy()
    atoms = []
    for y, x in [(12, 12), (14, 16), (16, 20)]:  # overlapping 7 x 7 dabs
        key = (slice(y - 3, y + 4), slice(x - 3, x + 4))
        yy, xx = np.mgrid[-3:4, -3:4]
        mask = yy**2 + xx**2 <= 9
        atoms.append(Masked(key, mask, data[key][mask].copy(), 5))
        data[key][mask] = 5
    boxes = [touched_box(a, data.shape) for a in atoms]
    edits = sequential_edits(atoms, data, boxes)
    undone = data.copy()
    for box, before, _ in reversed(edits):
        undone[box] = before
    np.testing.assert_array_equal(undone, start)
    redone = start.copy()
    for box, _, after in edits:
        redone[box] = after
    np.testing.assert_array_equal(redone, data)


@pytest.mark.parametrize("option", ["--labels", "--image"])
def test_an_unreadable_image_or_labels_file_is_one_line_naming_it(tmp_path, capsys, option):
    import tifffile

    path = tmp_path / "k.journal.jsonl"
    _two_commits_journal(path)
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([None, 1], dtype=object), allow_pickle=True)
    truncated = tmp_path / "truncated.npy"
    np.save(truncated, np.zeros((20, 20), np.uint16))
    truncated.write_bytes(truncated.read_bytes()[:100])
    empty = tmp_path / "empty.tif"
    tifffile.imwrite(empty, np.zeros((0,), np.uint8))
    out = tmp_path / "out.tif"
    mode = ["--mode", "predict", "--weights", "random"] if option == "--image" else []
    for bad, reason in ((objects, "not a readable"), (truncated, "not a readable"),
                        (empty, "not a readable image (corrupt or empty file)")):
        assert cli_main(["replay", str(path), *mode, option, str(bad), "-o", str(out)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"napari-inter2former replay: error: {option} {bad}: {reason}"), err
        assert err.count("\n") == 1 and not out.exists()
