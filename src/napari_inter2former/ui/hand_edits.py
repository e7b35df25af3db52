"""Edits of the target made with napari's own tools (brush, eraser, fill), taken into the
widget's undo history and journal.

A mixin of the widget. The widget binds Ctrl+Z on the target, so napari's own undo of a
stroke is out of reach; without this, Ctrl+Z after a stroke would undo the commit before it
and write that commit's old pixels over the stroke.
"""

from __future__ import annotations

import numpy as np

from ..journal.hand_edits import (
    MAX_EDIT_PIXELS,
    box_union,
    encode_edit,
    sequential_edits,
    touched_box,
)
from .history import Action
from .layers import base_data
from .state import notify


class HandEditMixin:
    def _on_hand_edit(self, target, atoms) -> int | None:
        """Journal and make undoable one napari edit of the target; returns the largest value it
        wrote (None when the edit could not be read: a lazy or multiscale target)."""
        data = base_data(target)
        if target.multiscale or not isinstance(data, np.ndarray):
            return None
        kept, boxes = [], []
        for atom in atoms or []:
            box = touched_box(atom, data.shape)
            if box is not None:
                kept.append(atom)
                boxes.append(box)
        if not kept:
            return None
        if int(np.prod([s.stop - s.start for s in box_union(boxes)])) > MAX_EDIT_PIXELS:
            notify("warning", "an edit of the target is too large to journal or undo here: save the "
                              "segmentation to keep it")
            return None
        edits = sequential_edits(kept, data, boxes)  # (box, values before, values after), in order
        for box, _, after in edits:
            self._journal_event(encode_edit(box, after))
        editing = self._obj.label_id if self._obj is not None else None
        if editing is not None and any((before == editing).any() or (after == editing).any()
                                       for _, before, after in edits):
            # The edit's commit writes the mask taken from the label when it was picked.
            notify("warning", f"label {editing} is being edited: committing it writes its edited mask "
                              "again (over erased pixels; over other labels only with 'Allow overwriting "
                              "other objects'). Clear the edit (Shift+C) first to keep the paint as it is.")

        def undo():
            for box, before, _ in reversed(edits):
                self._write_box(target, box, before)

        def redo():
            for box, _, after in edits:
                self._write_box(target, box, after)

        self.history.push(Action("hand edit of the labels", undo, redo))
        return max(int(after.max()) for _, _, after in edits)

    def _write_box(self, target, box: tuple[slice, ...], values: np.ndarray) -> None:
        """Write `values` into `box` of the target (changed pixels only, through napari), journaled."""
        data = base_data(target)
        changed = np.nonzero(np.asarray(data[box]) != values)
        if changed[0].size:
            self._set_through_napari(target, tuple(i + s.start for i, s in zip(changed, box)), values[changed])
        self._journal_event(encode_edit(box, values))
