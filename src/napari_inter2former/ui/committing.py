"""Committing: write the current object into the target Labels layer, as one undoable step.

A mixin of the widget (it uses the widget's object state, target layer, label ids,
history and journal). Only changed pixels are written, through napari when the target
is a plain array, so a commit on a large image redraws little and undo restores exactly.
"""

from __future__ import annotations

import numpy as np

from ..journal import LabelError, PlaneSpec, PlaneView, paint_object
from ..session import MaskResult
from .history import Action
from .label_ids import LabelIds, array_max
from .layers import base_data, same_geometry, same_layer, slice_index, spatial_shape, unsupported_transform, unwrap
from .pyramid import update_lower_levels
from .state import Snapshot, guarded, notify


class CommitMixin:
    @guarded
    def commit(self) -> None:
        """Write the current object into the target with a new id (or its own id when edited/carried)."""
        if not self._guard("commit"):
            return
        self._pick_mode = False  # a click after C starts a new object, not a pick
        if self._obj is None:
            notify("info", "Nothing to commit: click on an object first.")
            return
        self._when_settled(self._commit_now)

    def _target_spec(self, spec: PlaneSpec, target) -> PlaneSpec:
        """The target's plane matching image plane `spec` (napari aligns trailing axes)."""
        n, m = self._image.ndim, target.ndim
        shift = n - m
        rows, cols = spec.rows_axis - shift, spec.cols_axis - shift
        if rows < 0 or cols < 0:
            raise LabelError(f"target '{target.name}' has too few dimensions for this image")
        tshape = base_data(target).shape
        ishape = spatial_shape(self._image)
        if (tshape[rows], tshape[cols]) != (ishape[spec.rows_axis], ishape[spec.cols_axis]):
            raise LabelError(f"target '{target.name}' plane is {tshape[rows]}×{tshape[cols]} but the image's is "
                             f"{ishape[spec.rows_axis]}×{ishape[spec.cols_axis]}: pick a matching target")
        here = target.world_to_data(self.viewer.dims.point)
        index = []
        for j in range(m):
            i = j + shift
            if j in (rows, cols):
                index.append(None)
            elif 0 <= i < n and spec.index[i] is not None and i != spec.channel_axis:
                index.append(int(spec.index[i]))
            else:
                index.append(int(np.clip(slice_index(here[j]), 0, tshape[j] - 1)))
        return PlaneSpec(tuple(index), rows, cols, None)

    def _set_through_napari(self, target, indices: tuple, values: np.ndarray) -> None:
        """napari's data_setitem (only these pixels redraw), marked as the widget's own write:
        napari reports it as a paint, which must not be taken for a hand edit."""
        # During a brush drag napari stages every write into the stroke (one undo item at mouse
        # release), so a commit that lands mid-drag became part of the user's stroke and one undo
        # took back both. Outside the stroke, napari reports the write at once, as the widget's.
        layer = unwrap(target)
        in_stroke = bool(getattr(layer, "_block_history", False))
        self._writing_target = True
        try:
            if in_stroke:
                layer._block_history = False
            target.data_setitem(indices, values)
        finally:
            if in_stroke:
                layer._block_history = True
            self._writing_target = False

    def _write_target(self, target, patch, values: np.ndarray) -> None:
        """Write a patch's values, through napari when possible so only the changed pixels redraw."""
        y0, y1, x0, x1 = patch.box
        if isinstance(target.data, np.ndarray) and not target.multiscale:
            current = np.asarray(patch.plane.read(y0, y1, x0, x1))
            ys, xs = np.nonzero(current != values)
            if ys.size == 0:
                return
            spec = patch.plane.spec
            indices = tuple(
                ys + y0 if a == spec.rows_axis else xs + x0 if a == spec.cols_axis else np.full(ys.size, v)
                for a, v in enumerate(spec.index)
            )
            self._set_through_napari(target, indices, values[ys, xs])
        else:
            patch.plane.write(y0, y1, x0, x1, values)
            if target.multiscale and not update_lower_levels(list(target.data), patch.plane.spec, patch.box) \
                    and not same_layer(target, self._warned_pyramid):
                self._warned_pyramid = target
                notify("warning", f"the coarser levels of '{target.name}' are not its full resolution reduced "
                                  "in the image plane: only full resolution is updated (zoom in to see commits)")
            target.refresh()

    def _take_id(self) -> int:
        """A new id; when the counter has reached the dtype's limit, the target is scanned once
        more, since the highest ids may have been erased or undone since (a brush stroke of
        65535 undone used to leave a uint16 target refusing every commit)."""
        try:
            return self._ids.take()
        except LabelError:
            highest = array_max(base_data(self._target))
            if highest + 1 >= self._ids.next:
                raise
            self._ids = LabelIds(base_data(self._target).dtype, highest)
            return self._ids.take()

    def _paint(self, spec: PlaneSpec, result: MaskResult, label_id: int | None, extra_box=None):
        """Paint one object into the target; returns (patch, label_id) or raises LabelError."""
        target = self._ensure_target()
        for layer in (self._image, target):  # given after they were chosen
            transform = unsupported_transform(layer)
            if transform is not None:
                raise LabelError(f"'{layer.name}' now has {transform}, so the label would be drawn elsewhere "
                                 "than the object: remove it to commit")
        if not same_geometry(target, self._image):
            raise LabelError(f"the target '{target.name}' is no longer placed like the image '{self._image.name}' "
                             "(their scale, translate or units differ): give both the same to commit")
        plane = PlaneView(base_data(target), self._target_spec(spec, target))
        overwrite = self.overwrite_check.isChecked()
        while True:
            new_id = label_id is None
            lid = self._take_id() if new_id else label_id
            patch = paint_object(plane, result.mask, result.offset, lid, overwrite, extra_box, apply=False)
            if new_id and (patch.old == lid).any():
                self._ids.observe(int(patch.old.max()))  # painted by hand meanwhile: take a higher id
                continue
            break
        if patch.written == 0:
            if new_id:
                self._ids.give_back(lid)  # nothing carries it: the next object may have it
            raise LabelError("nothing was written: every pixel of the object belongs to other objects "
                             "(tick 'Allow overwriting other objects' to replace them)")
        try:
            self._write_target(target, patch, patch.new)
        except Exception as exc:
            # napari may fail while redrawing after the pixels changed: take them back, so that
            # no pixels exist that neither the undo history nor the journal knows of.
            try:
                patch.undo()  # straight into the data, not through napari's redraw that just failed
            except Exception:  # nothing was written (a read-only array refuses both)
                pass
            if new_id:
                self._ids.give_back(lid)
            try:
                target.refresh()
            except Exception:  # the display is napari's; the data is what must be right
                pass
            raise LabelError(f"the target '{target.name}' could not be updated ({type(exc).__name__}: {exc}); "
                             "nothing was written") from exc
        return patch, lid

    def _commit_now(self) -> int | None:
        obj, result = self._obj, self._result
        if obj is None:
            return None
        if self._target is None and (self._image is None or
                                     not any(same_layer(self._image, layer) for layer in self.viewer.layers)):
            # image and target removed while this commit waited for its prediction: no target is
            # made for it (with the target still there, the commit lands, as before a switch)
            notify("warning", "The image and its target were removed before the object could be committed: "
                              "nothing was committed.")
            return None
        if result is None or result.empty:
            if obj.label_id is not None:  # an edited label clicked away entirely
                notify("warning", f"The edited label {obj.label_id} would be empty: nothing was committed. "
                                  "To delete it, fill it with 0 (napari's fill or eraser) on the target.")
            else:
                notify("warning", "The current object is empty: nothing was committed.")
            return None
        try:
            patch, label_id = self._paint(obj.spec, result, obj.label_id, obj.extra_box)
        except LabelError as exc:
            notify("error", f"commit failed, the object is kept: {exc}")
            self._set_status("commit failed: the object is kept")
            return None
        seq = next(self._seq)
        self._journal_commit(seq, obj, self._clicks(self._points, obj.spec), result, label_id, patch,
                             self._intensity_range())
        before = Snapshot(self._points.coords, self._points.positive, obj, result)
        empty = self._empty_points(self._image.ndim)
        self._apply_state(empty)
        last, previous = (label_id, obj.spec, result), self._last_commit
        self._last_commit = last

        target = self._target

        def undo():
            self._write_target(target, patch, patch.old)
            self._journal_event({"type": "undo", "seq": seq})
            self._apply_state(before)
            self._show_plane_of(obj.spec)
            self._last_commit = previous  # N then carries the label committed before this one

        def redo():
            self._write_target(target, patch, patch.new)
            self._journal_event({"type": "redo", "seq": seq})
            self._apply_state(empty)
            self._last_commit = last

        self.history.push(Action(f"commit of label {label_id}", undo, redo))
        blocked = f" ({patch.blocked} px left to other objects)" if patch.blocked else ""
        self._set_status(f"committed label {label_id}{blocked}")
        if patch.blocked > patch.written:
            # Most of the object lay on other objects: what was written may be a sliver.
            notify("warning", f"Only {patch.written} px kept: label {label_id} got only {patch.written} px, the other "
                              f"{patch.blocked} px belong to other objects. Ctrl+Z undoes it; 'Allow overwriting "
                              "other objects' lets a commit take them.")
        self.set_polarity(True)  # the next object starts with a positive click
        return label_id
