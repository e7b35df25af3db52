"""Editing a committed label: pick it in the target, then refine it with clicks like a new object.

A mixin of the widget. The picked label becomes the object's seed mask and keeps its id,
so the next commit replaces it in place.
"""

from __future__ import annotations

import numpy as np

from ..journal import LabelError, PlaneView
from ..session import MaskResult
from .history import Action
from .label_region import label_region
from .layers import PlaneError, base_data, pixel_index, point_plane
from .state import ObjectState, Snapshot, guarded, notify


class EditMixin:
    @guarded
    def start_pick(self) -> None:
        """The next click on the prompts layer picks a label to edit instead of adding a point."""
        if not self._guard("edit a label"):
            return
        if self._obj is not None:
            # the pick click would be refused as a click on another object, and lost
            notify("info", "Commit (C) or clear (Shift+C) the object in progress before picking a label to edit.")
            return
        self._pick_mode = True
        if self._prompts is not None:
            self._prompts.mode = "add"
            self.viewer.layers.selection.active = self._prompts
        self._set_status("Click on the label to edit.")

    def _target_pixel(self, coords, spec) -> tuple:
        """(target plane of `spec`, y, x, label) at `coords` (image data coordinates); the label is
        None outside the plane. Raises PlaneError or LabelError when the target has no such plane."""
        plane = PlaneView(base_data(self._target), self._target_spec(spec, self._target))
        y, x = pixel_index(coords[spec.rows_axis], plane.shape[0]), pixel_index(coords[spec.cols_axis], plane.shape[1])
        if not (0 <= y < plane.shape[0] and 0 <= x < plane.shape[1]):
            return plane, y, x, None
        return plane, y, x, int(np.asarray(plane.read(y, y + 1, x, x + 1))[0, 0])

    def _label_under(self, coords, spec) -> int:
        """The target's label at `coords` on plane `spec`; 0 if none."""
        if self._target is None:
            return 0
        try:
            label = self._target_pixel(coords, spec)[3]
        except (PlaneError, LabelError, ValueError, IndexError):
            return 0
        return label or 0

    def _hint_if_inside_a_label(self, obj: ObjectState, coords) -> None:
        """A new object's first click inside a committed label would, with overwriting off, commit
        only the pixels around that label: say so at once, and how to change the label instead."""
        if obj.label_id is not None or obj.seed is not None or self.overwrite_check.isChecked():
            return
        value = self._label_under(np.asarray(coords, dtype=float), obj.spec)
        if value:
            notify("info", f"Inside label {value}: to change it, use 'Edit a label (pick)'. A new object here "
                           f"keeps label {value}'s pixels ('Allow overwriting other objects' is off).")

    @guarded
    def edit_label_at(self, coords) -> int | None:
        """Start editing the target label under `coords` (image data coordinates, all axes)."""
        if not self._guard("edit a label"):
            return None
        if self._obj_is_started():
            notify("warning", "Commit (C) or clear (Shift+C) the current object before editing a label.")
            return None
        if self._target is None:
            notify("info", "There is no target layer with labels to edit yet.")
            return None
        coords = np.asarray(coords, dtype=float)
        try:
            template = self._shown_spec()
            spec = self._spec_for_plane(point_plane(coords, template))
            plane, y, x, value = self._target_pixel(coords, spec)
        except (PlaneError, LabelError) as exc:
            notify("warning", str(exc))
            return None
        if value is None:
            notify("warning", f"({y}, {x}) is outside the image")
            return None
        if value == 0:
            notify("info", "There is no label there: click inside a label to edit it.")
            return None
        mask, offset, box = label_region(plane, value, y, x)
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        obj = ObjectState(next(self._tokens), spec, seed=(mask, offset), label_id=value, extra_box=box)
        after = Snapshot(self._empty_points(self._image.ndim).coords, np.zeros(0, bool), obj,
                       MaskResult(mask, offset))
        self._apply_state(after)
        self.history.push(Action(f"edit label {value}", lambda: self._apply_state(before),
                                 lambda: self._apply_state(after)))
        self._set_status(f"editing label {value}: click to refine, C to commit")
        return value
