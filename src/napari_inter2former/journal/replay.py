"""Rebuild a segmentation from a journal, headless.

mode "masks" pastes the stored object masks (exact, no model needed);
mode "predict" re-runs the model from the stored clicks and seeds (needs the
image and the same weights; checks that the prompts reproduce the work).
Both paint through `paint_object`, with the same overwrite rules and in the
same order, and honour undo/redo events. Edits made with napari's own tools on
the target (brush, eraser, fill) are written back as recorded.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import fields
from typing import Callable

import numpy as np

from ..session import Click, WindowPolicy
from .hand_edits import apply_edit
from .journal import JournalError, read_journal
from .painting import Patch, paint_object, union_box
from .planes import PlaneSpec, PlaneView
from .rle import decode_mask

MODES = ("masks", "predict")


def _predict_mask(event: dict, image, predictor) -> tuple[np.ndarray, tuple[int, int]]:
    spec = PlaneSpec.from_json(event["image_plane"])
    plane = PlaneView(image, spec)
    predictor.set_image(plane, key=("replay", spec), intensity_range=event.get("intensity_range"))
    session = predictor.new_session()
    if event.get("seed"):
        seed, offset = decode_mask(event["seed"])
        session.start_from_mask(seed, offset)
        if event.get("seed_predict"):
            # a mask carried from another slice: predicted first, the prediction is the base (as in the widget)
            carried = session.predict()
            if not carried.empty:
                session.start_from_mask(carried.mask, carried.offset)
    clicks = [Click(int(y), int(x), bool(p)) for y, x, p in event.get("clicks", [])]
    if clicks:
        result = session.set_clicks(clicks)
    elif event.get("seed"):
        result = session.result
    else:
        raise JournalError(f"commit {event.get('seq')} has neither clicks nor a seed mask")
    return result.mask, result.offset


def _pixels_differing(mask: np.ndarray, offset, stored: dict) -> int:
    """How many pixels a predicted mask (at `offset`) and a stored run-length mask disagree on."""
    other, other_offset = decode_mask(stored)
    placed = [(m, (o[0], o[0] + m.shape[0], o[1], o[1] + m.shape[1]))
              for m, o in ((mask, offset), (other, other_offset))]
    y0, y1, x0, x1 = union_box(placed[0][1], placed[1][1])
    canvases = np.zeros((2, y1 - y0, x1 - x0), bool)
    for canvas, (m, (by0, by1, bx0, bx1)) in zip(canvases, placed):
        canvas[by0 - y0 : by1 - y0, bx0 - x0 : bx1 - x0] = m
    return int((canvases[0] != canvases[1]).sum())


def _describe(exc: Exception) -> str:
    return f"missing field {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)


def recorded_window_policy(header: dict) -> WindowPolicy | None:
    """The WindowPolicy a journal was recorded with (keys this version does not know are
    ignored), or None for journals written before it was recorded. Predict mode needs it: the
    policy decides the scale each window is decoded at, so other defaults give other masks."""
    recorded = (header.get("model") or {}).get("window_policy")
    if not isinstance(recorded, dict):
        return None
    known = {f.name for f in fields(WindowPolicy)}
    # Fields added later, at the value that gives the behaviour from before they existed.
    before = {"probe_levels": 1, "overhang": 0, "mirror_average": False, "flip_probes": True,
              "soft_resample": False}
    return WindowPolicy(**{**before, **{k: v for k, v in recorded.items() if k in known}})


def replay(journal: str | os.PathLike, labels: np.ndarray | None = None, image=None, mode: str = "masks",
           predictor=None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Apply a journal's commits (and undo/redo) to `labels` (a new zero array of
    the recorded target shape and dtype when None); returns the labels."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    notes: list[str] = []
    header, events = read_journal(journal, notes)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    target = header.get("target") or {}
    if labels is None and isinstance(target.get("start_next_id"), int) and target["start_next_id"] > 1:
        warnings.warn(f"the journal began on a target that already held labels (new ids started at "
                      f"{target['start_next_id']}): pass that segmentation as labels (--labels) to rebuild "
                      "all of it; this replay holds only what the journal recorded", stacklevel=2)
    if labels is None:
        try:
            labels = np.zeros(tuple(target["shape"]), dtype=np.dtype(target["dtype"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise JournalError(f"the journal's header does not describe its target ({_describe(exc)}); "
                               "pass the labels to replay onto") from None
    elif target.get("shape") and tuple(labels.shape) != tuple(target["shape"]):
        raise JournalError(f"labels shape {labels.shape} differs from the journal's target {tuple(target['shape'])}")
    if mode == "predict":
        if image is None:
            raise JournalError("mode 'predict' needs the image the journal was recorded on")
        if predictor is None:
            from ..session import Predictor
            predictor = Predictor(window_policy=recorded_window_policy(header))
    applied: list[tuple[int, Patch]] = []
    undone: list[tuple[int, Patch, dict]] = []
    commits = [e for e in events if e.get("type") == "commit"]
    try:
        known = {int(e["seq"]) for e in commits}
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"a commit event has no valid sequence number ({_describe(exc)})") from None
    skipped, unknown, differ = [], set(), []
    pending = None  # the prompts of an object still in progress when the journal ends
    done = 0
    for number, event in enumerate(events, start=2):
        kind = event.get("type")
        try:
            if kind == "commit":
                plane = PlaneView(labels, PlaneSpec.from_json(event["target_plane"]))
                if mode == "masks":
                    mask, offset = decode_mask(event["mask"])
                else:
                    mask, offset = _predict_mask(event, image, predictor)
                    if event.get("mask"):
                        differ.append(_pixels_differing(mask, offset, event["mask"]))
                extra = tuple(event["extra_box"]) if event.get("extra_box") else None
                patch = paint_object(plane, mask, offset, int(event["id"]), bool(event.get("overwrite")), extra)
                applied.append((int(event["seq"]), patch))
                undone.clear()
                pending = None
                done += 1
                if progress is not None:
                    progress(done, len(commits))
            else:
                if kind == "prompts":
                    pending = event if event.get("clicks") else None
                elif kind == "redo":  # a commit done again: its object is no longer in progress
                    pending = None
                _replay_other(event, kind, labels, applied, undone, known, skipped, unknown)
        except JournalError:
            raise
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise JournalError(f"line {number} ({kind or 'untyped'} event) cannot be replayed: {_describe(exc)}") from exc
    _warn_about(skipped, unknown, differ, pending)
    return labels


def _replay_other(event, kind, labels, applied, undone, known, skipped, unknown) -> None:
    """Every event but a commit: hand edits, undo and redo (prompts change nothing on the target)."""
    if kind == "paint":
        apply_edit(labels, event)
    elif kind in ("undo", "redo") and int(event["seq"]) not in known:
        # A commit from before this file began (e.g. a journal restarted after it was
        # deleted): its pixels are not in this replay, so neither is its undo.
        skipped.append(f"{kind} {event['seq']}")
    elif kind == "undo":
        if not applied or applied[-1][0] != int(event["seq"]):
            raise JournalError(f"undo of commit {event['seq']} does not match the last applied commit")
        seq, patch = applied.pop()
        patch.undo()
        undone.append((seq, patch, event))
    elif kind == "redo":
        if not undone or undone[-1][0] != int(event["seq"]):
            raise JournalError(f"redo of commit {event['seq']} does not match the last undone commit")
        seq, patch, _ = undone.pop()
        patch.redo()
        applied.append((seq, patch))
    elif kind != "prompts":
        unknown.add(repr(kind))


def _warn_about(skipped, unknown, differ, pending) -> None:
    """What the replay could not rebuild, or not exactly: said, never silent."""
    if skipped:
        warnings.warn(f"skipped {', '.join(skipped)}: commits this journal does not hold", stacklevel=3)
    if unknown:
        warnings.warn(f"skipped events of unknown type: {', '.join(sorted(unknown))}", stacklevel=3)
    changed = [n for n in differ if n]
    if changed:
        warnings.warn(f"predict mode: {len(changed)} of {len(differ)} objects differ from the masks the journal "
                      f"recorded ({sum(changed)} pixels in all): the weights, the image or the window policy are "
                      "not those of the recording (the default mode pastes the recorded masks)", stacklevel=3)
    if pending is not None:
        warnings.warn(f"the journal ends with an object in progress ({len(pending['clicks'])} clicks, never "
                      "committed): it is not in the replay", stacklevel=3)
