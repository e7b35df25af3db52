"""Writing one object into a labels plane, with the rules that protect other objects.

The widget and the journal replay both paint through `paint_object`, so a
replayed journal produces the same labels as the session that wrote it.
Only the object's window is read and written, never the whole plane.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .planes import PlaneView


class LabelError(ValueError):
    """The label id does not fit the target's dtype, or the target cannot hold labels."""


@dataclass
class Patch:
    """A painted region of a plane: old and new values, for undo and redo."""

    plane: PlaneView
    box: tuple[int, int, int, int]  # (y0, y1, x0, x1), inside the plane
    old: np.ndarray
    new: np.ndarray
    label_id: int
    written: int  # pixels now carrying label_id
    blocked: int  # mask pixels left to another object

    def undo(self) -> None:
        self.plane.write(*self.box, self.old)

    def redo(self) -> None:
        self.plane.write(*self.box, self.new)


def max_label(dtype) -> int:
    dtype = np.dtype(dtype)
    if dtype.kind not in "ui":
        raise LabelError(f"a labels layer needs an integer dtype, not {dtype}")
    return int(np.iinfo(dtype).max)


def union_box(a, b):
    """Smallest box holding boxes a and b (either may be None)."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def paint_object(plane: PlaneView, mask: np.ndarray, offset: tuple[int, int], label_id: int,
                 overwrite: bool = False, extra_box=None, apply: bool = True) -> Patch:
    """Paint `mask` (bool, placed at `offset`) as `label_id` into `plane`.

    Pixels of `label_id` inside the painted region but outside the mask are
    cleared (the object shrank). Pixels of other objects are kept unless
    `overwrite`. `extra_box` widens the region, e.g. to the old extent of a
    label that is being edited. With `apply=False` the patch is only computed
    (the caller writes it, e.g. through napari so the display updates in place).
    """
    if label_id < 1 or label_id > max_label(plane.dtype):
        raise LabelError(
            f"label id {label_id} does not fit the target's {plane.dtype} "
            f"(largest id {max_label(plane.dtype)}): convert the target layer to a larger integer type"
        )
    mask = np.asarray(mask, dtype=bool)
    h, w = plane.shape[:2]
    oy, ox = int(offset[0]), int(offset[1])
    # Paint over the mask's foreground box, not the decoding window it came in: the journal
    # stores the mask cropped so, and a wider window would clear other pieces of the same id
    # live that replay keeps.
    ys, xs = np.nonzero(mask)
    if len(ys):
        mask = mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
        oy, ox = oy + int(ys.min()), ox + int(xs.min())
        box = union_box((oy, oy + mask.shape[0], ox, ox + mask.shape[1]), extra_box)
    elif extra_box is not None:
        box = extra_box  # an edited object that shrank to nothing: clear its old extent
    else:
        raise LabelError("the object is empty")
    y0, y1, x0, x1 = max(0, box[0]), min(h, box[1]), max(0, box[2]), min(w, box[3])
    if y0 >= y1 or x0 >= x1:
        raise LabelError("the object lies outside the target layer")
    local = np.zeros((y1 - y0, x1 - x0), dtype=bool)
    sy0, sy1 = max(y0, oy), min(y1, oy + mask.shape[0])
    sx0, sx1 = max(x0, ox), min(x1, ox + mask.shape[1])
    if sy0 < sy1 and sx0 < sx1:
        local[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = mask[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox]
    old = np.array(plane.read(y0, y1, x0, x1), copy=True)
    new = old.copy()
    new[(old == label_id) & ~local] = 0
    free = local if overwrite else local & ((old == 0) | (old == label_id))
    new[free] = label_id
    patch = Patch(plane, (y0, y1, x0, x1), old, new, int(label_id), int(free.sum()), int((local & ~free).sum()))
    if apply:
        patch.redo()
    return patch
