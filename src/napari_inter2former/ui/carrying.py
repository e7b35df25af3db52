"""Volumes: carry the current object to the next/previous slice, or through N slices in the worker.

A mixin of the widget (it uses the widget's object state, painting, history and journal).
The carried prompt is the previous slice's mask (same label id), plus by default one
positive click at the mask's interior point.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..journal import LabelError, PlaneSpec, PlaneView
from ..session import MaskResult
from .engine import CarryRunJob, CarryRunOutcome, CarryStep, interior_point
from .history import Action
from .label_region import label_region
from .layers import PlaneError, base_data, slice_index, spatial_shape, spec_plane
from .state import ObjectState, Snapshot, guarded, notify

CARRY_MIN_AREA = 10


class CarryMixin:
    def _carry_axis(self, spec: PlaneSpec) -> int | None:
        fixed = [a for a, v in enumerate(spec.index) if v is not None and a != spec.channel_axis]
        return fixed[-1] if fixed else None

    def _carry_source(self):
        """(label_id, spec, result) to carry: the current object (committed first) or the last commit."""
        if self._obj is not None and self._result is not None and not self._result.empty:
            if self._commit_now() is None:
                return None
            return self._last_commit
        if self._last_commit is not None:
            return self._last_commit_on_shown_slice()
        notify("info", "Nothing to carry: segment an object first.")
        return None

    def _last_commit_on_shown_slice(self):
        """The last committed label, taken from the slice on screen: after a run the user may
        have gone back (e.g. to carry the other way), and carrying from where the run ended
        would re-segment slices already done."""
        label_id, spec, result = self._last_commit
        shown = self._carry_plane_of_last_commit()
        if spec_plane(shown) == spec_plane(spec):
            return self._last_commit
        plane = PlaneView(base_data(self._target), self._target_spec(shown, self._target))
        y0, y1, x0, x1 = result.window  # where it was: a carried object moves little between slices
        near = np.asarray(plane.read(y0, y1, x0, x1)) == label_id
        if not near.any():
            notify("info", f"Label {label_id} is not on this slice near where it was last committed: go to a "
                           "slice that has it, or click an object.")
            return None
        ys, xs = np.nonzero(near)
        mask, offset, _ = label_region(plane, label_id, y0 + int(ys[0]), x0 + int(xs[0]))
        return label_id, shown, MaskResult(mask, offset)

    def _carry_plane_of_last_commit(self) -> PlaneSpec:
        """The plane the last commit is carried from: its slice on screen, or, when the view shows
        another orientation (the stack seen from the side), the plane it was committed on."""
        spec = self._last_commit[1]
        shown = self._shown_spec()
        if (shown.rows_axis, shown.cols_axis) != (spec.rows_axis, spec.cols_axis):
            return spec
        return replace(spec, index=tuple(
            v if a in (spec.rows_axis, spec.cols_axis) or a == spec.channel_axis else shown.index[a]
            for a, v in enumerate(spec.index)))

    def _point_coords(self, spec: PlaneSpec, y: int, x: int) -> np.ndarray:
        """Prompts-layer coordinates (all image axes) of pixel (y, x) on plane `spec`."""
        here = np.asarray(self._image.world_to_data(self.viewer.dims.point), dtype=float)
        coords = np.zeros(self._image.ndim)
        for a in range(self._image.ndim):
            if a == spec.rows_axis:
                coords[a] = y
            elif a == spec.cols_axis:
                coords[a] = x
            elif spec.index[a] is not None and a != spec.channel_axis:
                coords[a] = spec.index[a]
            else:
                coords[a] = slice_index(here[a])
        return coords

    def _show_plane_of(self, spec: PlaneSpec) -> None:
        """Move every slider to `spec`'s plane, so the object brought there (carried, or an undone
        commit) can be clicked at once instead of being refused as on another slice."""
        try:
            shown = self._shown_spec()
        except PlaneError:  # e.g. the 3-D view: nothing to move
            return
        if (shown.rows_axis, shown.cols_axis) != (spec.rows_axis, spec.cols_axis):
            # Committed in another axis order: show that orientation again.
            offset = self.viewer.dims.ndim - self._image.ndim
            shown_axes = (spec.rows_axis + offset, spec.cols_axis + offset)
            order = [a for a in self.viewer.dims.order if a not in shown_axes]
            self.viewer.dims.order = (*order, *shown_axes)
            shown = self._shown_spec()
        for axis, value in enumerate(spec.index):
            if value is not None and axis != spec.channel_axis and shown.index[axis] != value:
                self._go_to(spec, axis)

    def _go_to(self, spec: PlaneSpec, axis: int) -> None:
        """Show plane `spec` (move the slider of image axis `axis`)."""
        world_axis = axis + self.viewer.dims.ndim - self._image.ndim
        data_point = np.asarray(self._image.world_to_data(self.viewer.dims.point), dtype=float)
        data_point[axis] = spec.index[axis]
        world = self._image.data_to_world(data_point)
        self.viewer.dims.set_point(world_axis, float(world[axis]))

    @guarded
    def carry_next(self) -> None:
        self._carry(+1)

    @guarded
    def carry_previous(self) -> None:
        self._carry(-1)

    def _carry(self, step: int) -> None:
        if self._guard("carry"):
            self._when_settled(lambda: self._carry_now(step))

    def _at_the_end(self, step: int) -> bool:
        """True (user told) when the object to carry is already on the last slice that way;
        checked before carrying commits the object, so N at the end does not commit silently."""
        source = (self._obj.spec if self._obj is not None  # else as _carry_source takes it
                  else self._carry_plane_of_last_commit()
                  if self._last_commit is not None else None)
        axis = self._carry_axis(source) if source is not None else None
        if axis is None or 0 <= source.index[axis] + step < spatial_shape(self._image)[axis]:
            return False
        notify("info", ("Already at the last slice" if step > 0 else "Already at the first slice")
               + (": the object is not committed (C commits it)." if self._obj is not None else "."))
        return True

    def _carry_start(self):
        """(label id, plane spec, result, slice axis) of the object to carry, or None (user told why)."""
        source = self._carry_source()
        if source is None:
            return None
        label_id, spec, result = source
        axis = self._carry_axis(spec)
        if axis is None:
            notify("info", "This image has no slice axis to carry along.")
            return None
        return label_id, spec, result, axis

    def _carry_now(self, step: int) -> None:
        if self._at_the_end(step):
            return
        start = self._carry_start()
        if start is None:
            return
        label_id, spec, result, axis = start
        index = spec.index[axis] + step
        if not 0 <= index < spatial_shape(self._image)[axis]:
            notify("info", "Already at the last slice." if step > 0 else "Already at the first slice.")
            return
        new_spec = replace(spec, index=tuple(index if a == axis else v for a, v in enumerate(spec.index)))
        self._show_plane_of(new_spec)  # every slider: the user may have looked at another t
        before = Snapshot(self._points.coords, self._points.positive, self._obj, self._result)
        centre = self.centre_click_check.isChecked()
        obj = ObjectState(next(self._tokens), new_spec, seed=(result.mask, result.offset), predict_seed=not centre,
                          label_id=label_id, extra_box=result.window, centre_click=centre)
        coords = self._empty_points(self._image.ndim).coords
        if centre:  # a visible, movable point: the user sees (and may change) the prompt
            coords = self._point_coords(new_spec, *interior_point(result.mask, result.offset))[None]
        after = Snapshot(coords, np.ones(len(coords), bool), obj, None)
        self._apply_state(after)
        self.history.push(Action(f"carry label {label_id}", lambda: self._apply_state(before),
                                 lambda: self._apply_state(after)))
        self._set_status(f"label {label_id} carried to slice {index}: correct with clicks, C to commit, "
                         f"{'N' if step > 0 else 'Shift+N'} to go on")

    @guarded
    def carry_through(self, n: int | None = None, step: int = +1) -> None:
        """Carry the object through up to `n` slices in the worker (stops when it vanishes)."""
        if self._guard("carry") and not self._at_the_end(step):
            n = int(n if n is not None else self.carry_spin.value())
            self._when_settled(lambda: self._carry_run_now(n, step))

    def _carry_run_now(self, n: int, step: int) -> None:
        start = self._carry_start()
        if start is None:
            return
        label_id, spec, result, axis = start
        size = spatial_shape(self._image)[axis]
        steps = []
        for k in range(1, n + 1):
            index = spec.index[axis] + k * step
            if not 0 <= index < size:
                break
            s = replace(spec, index=tuple(index if a == axis else v for a, v in enumerate(spec.index)))
            steps.append(CarryStep(self._plane_key(s), PlaneView(base_data(self._image), s), (s, axis),
                                   self._intensity_range()))
        if not steps:
            notify("info", "No slices left in that direction.")
            return
        job = CarryRunJob(self._gen, mask=result.mask, offset=result.offset, steps=steps,
                          centre_click=self.centre_click_check.isChecked(), min_area=CARRY_MIN_AREA)
        self._carry_job = job
        self._carry_state = {"label_id": label_id, "patches": [], "prev": result, "last": None}
        self.cancel_button.setEnabled(True)
        self._set_status(f"carrying label {label_id} through up to {len(steps)} slices…")
        self._submit(job)

    @guarded
    def _on_partial(self, job, payload) -> None:
        if job is not self._carry_job:
            return
        _, step, result, clicks = payload
        spec, axis = step.spec
        state = self._carry_state
        try:
            patch, label_id = self._paint(spec, result, state["label_id"], result.window)
        except LabelError as exc:
            notify("error", f"carry stopped: {exc}")
            job.cancel.set()
            return
        seq = next(self._seq)
        prev = state["prev"]
        self._journal_commit(seq, ObjectState(0, spec, seed=(prev.mask, prev.offset), predict_seed=not clicks,
                                       label_id=label_id), clicks, result, label_id, patch,
                             step.intensity_range)
        state["patches"].append((seq, patch))
        state["prev"] = result
        state["last"] = (label_id, spec, result, axis)

    def _stop_carry(self, why: str) -> None:
        """End a running carry now because its image or target went away; the slices it has
        already written stay (one undo step), and the worker's later results are ignored."""
        job = self._carry_job
        if job is None:
            return
        job.cancel.set()
        done = len(self._carry_state.get("patches", []))
        self._finish_carry_run(job, CarryRunOutcome(done, len(job.steps), f"stopped: {why}"), show=False)

    def _finish_carry_run(self, job, outcome: CarryRunOutcome, show: bool = True) -> None:
        if job is not self._carry_job:
            return
        state = self._carry_state
        self._carry_job = None
        self.cancel_button.setEnabled(False)
        patches = list(state.get("patches", []))
        done = len(patches)
        end = "all done"  # the N slices asked for, or up to the stack's first or last slice
        if state.get("last") is not None:
            _, spec, _, axis = state["last"]
            if spec.index[axis] in (0, spatial_shape(self._image)[axis] - 1):
                end = "reached the first slice" if spec.index[axis] == 0 else "reached the last slice"
        reason = {"end": end, "vanished": "the object vanished",
                  "cancelled": "cancelled"}.get(outcome.stopped, outcome.stopped)
        label = state["label_id"]
        if state.get("last") is not None and done:
            _, last_spec, _, axis = state["last"]
            first_spec, _ = job.steps[0].spec  # the slices run from the first step to the last done
            low, high = sorted((first_spec.index[axis], last_spec.index[axis]))
            where = f"slices {low}-{high}" if low != high else f"slice {low}"
            # what and where first: napari's pop-up shows only the start of a message
            notify("info", f"Label {label} carried to {where}: {reason}. Scroll through them to check.")
        else:
            notify("info", f"Label {label} was not carried: {reason}.")
        self._set_status(f"carry: {done}/{outcome.total} slices, {reason}")
        if not patches:
            return
        label_id, spec, result, axis = state["last"]
        before_last, after_last = self._last_commit, (label_id, spec, result)
        self._last_commit = after_last
        if show:
            self._show_plane_of(spec)
        target = self._target

        def undo():
            for seq, patch in reversed(patches):
                self._write_target(target, patch, patch.old)
                self._journal_event({"type": "undo", "seq": seq})
            self._last_commit = before_last

        def redo():
            for seq, patch in patches:
                self._write_target(target, patch, patch.new)
                self._journal_event({"type": "redo", "seq": seq})
            self._last_commit = after_last

        self.history.push(Action(f"carry run of label {label_id} ({done} slices)", undo, redo))

    @guarded
    def cancel(self) -> None:
        """Cancel a running carry."""
        if self._carry_job is not None:
            self._carry_job.cancel.set()
            self._set_status("cancelling…")
