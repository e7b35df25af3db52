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
from .painting import Patch, paint_object
from .planes import PlaneSpec, PlaneView
from .rle import decode_mask

MODES = ("masks", "predict")


def _predict_mask(event: dict, image, predictor) -> tuple[np.ndarray, tuple[int, int]]:
    spec = PlaneSpec.from_json(event["image_plane"])
    plane = PlaneView(image, spec)
    predictor.set_image(plane, key=("replay", spec))
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


def recorded_window_policy(header: dict) -> WindowPolicy | None:
    """The WindowPolicy a journal was recorded with (keys this version does not know are
    ignored), or None for journals written before it was recorded. Predict mode needs it: the
    policy decides the scale each window is decoded at, so other defaults give other masks."""
    recorded = (header.get("model") or {}).get("window_policy")
    if not isinstance(recorded, dict):
        return None
    known = {f.name for f in fields(WindowPolicy)}
    # Fields added later, at the value that gives the behaviour from before they existed.
    before = {"probe_levels": 1, "overhang": 0}
    return WindowPolicy(**{**before, **{k: v for k, v in recorded.items() if k in known}})


def replay(journal: str | os.PathLike, labels: np.ndarray | None = None, image=None, mode: str = "masks",
           predictor=None, progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Apply a journal's commits (and undo/redo) to `labels` (a new zero array of
    the recorded target shape and dtype when None); returns the labels."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    header, events = read_journal(journal)
    target = header.get("target", {})
    if labels is None:
        labels = np.zeros(tuple(target["shape"]), dtype=np.dtype(target["dtype"]))
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
    known = {int(e["seq"]) for e in commits}
    skipped = []
    done = 0
    for event in events:
        kind = event.get("type")
        if kind == "commit":
            plane = PlaneView(labels, PlaneSpec.from_json(event["target_plane"]))
            if mode == "masks":
                mask, offset = decode_mask(event["mask"])
            else:
                mask, offset = _predict_mask(event, image, predictor)
            extra = tuple(event["extra_box"]) if event.get("extra_box") else None
            patch = paint_object(plane, mask, offset, int(event["id"]), bool(event.get("overwrite")), extra)
            applied.append((int(event["seq"]), patch))
            undone.clear()
            done += 1
            if progress is not None:
                progress(done, len(commits))
        elif kind == "paint":
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
    if skipped:
        warnings.warn(f"skipped {', '.join(skipped)}: commits this journal does not hold", stacklevel=2)
    return labels
