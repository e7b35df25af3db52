"""Edits made outside the widget (napari's brush, eraser or fill on the target) as journal events.

An edit is stored as the box it touched and that box's values after it (zlib-compressed, so
a brush stroke costs a few hundred bytes). Replay writes the box back: exact whatever tool
made the edit, and independent of napari's own history format.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

MAX_EDIT_PIXELS = 64 * 2**20  # larger boxes (a fill over a huge plane) are not journaled


def touched_box(atom, shape: tuple[int, ...]) -> tuple[slice, ...] | None:
    """The box a napari Labels history atom changed: a `_MaskedPaintAtom` (has `slice_key`)
    or an `(indices, old_values, new_values)` tuple with one index array per axis."""
    if hasattr(atom, "slice_key"):
        return tuple(atom.slice_key)
    indices = atom[0]
    box = []
    for axis, index in enumerate(indices):
        if isinstance(index, slice):
            box.append(slice(*index.indices(shape[axis])[:2]))
            continue
        index = np.asarray(index)
        if index.size == 0:
            return None
        box.append(slice(int(index.min()), int(index.max()) + 1))
    return tuple(box)


def box_union(boxes: list[tuple[slice, ...]]) -> tuple[slice, ...]:
    """The smallest box holding all `boxes` (tuples of slices, one per axis)."""
    return tuple(slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(len(boxes[0])))


def sequential_edits(atoms, data: np.ndarray, boxes: list[tuple[slice, ...]]) -> list[tuple]:
    """(box, values before, values after) of each atom of one napari edit, in order, each as if
    the atoms were applied one after another (a brush drag is several dabs in one edit).

    Taking every dab's "before" from the array after the whole drag would keep the later dabs'
    paint inside an earlier dab's box, and undoing the drag would leave some of it behind. So the
    states are worked out backwards on a copy of the region the atoms share: the final state
    (built from the atoms, as napari may report an edit before writing it), then each atom's
    old values put back in reverse order."""
    union = box_union(boxes)
    work = np.array(data[union], copy=True)

    def local(box):
        return tuple(slice(s.start - u.start, s.stop - u.start) for s, u in zip(box, union))

    for atom, box in zip(atoms, boxes):
        work[local(box)] = _put(work[local(box)].copy(), atom, box, old=False)
    edits = []
    for atom, box in reversed(list(zip(atoms, boxes))):
        after = work[local(box)].copy()
        work[local(box)] = _put(after.copy(), atom, box, old=True)
        edits.append((box, work[local(box)].copy(), after))
    return edits[::-1]


def _put(values: np.ndarray, atom, box: tuple[slice, ...], old: bool) -> np.ndarray:
    """Write the atom's old or new values into `values` (the box's pixels)."""
    if hasattr(atom, "slice_key"):
        if atom.mask is None:  # the whole box changed; napari keeps a snapshot of it as old values
            values[...] = np.asarray(atom.old_values).reshape(values.shape) if old else atom.new_value
        else:
            values[np.asarray(atom.mask, bool)] = atom.old_values if old else atom.new_value
        return values
    indices, old_values, new_values = atom
    local = tuple(np.asarray(i) - s.start if not isinstance(i, slice) else slice(None)
                  for i, s in zip(indices, box))
    values[local] = old_values if old else new_values
    return values


def encode_edit(box: tuple[slice, ...], values: np.ndarray) -> dict:
    values = np.ascontiguousarray(values)
    return {
        "type": "paint",
        "box": [[int(s.start), int(s.stop)] for s in box],
        "dtype": str(values.dtype),
        "values": base64.b64encode(zlib.compress(values.tobytes(), 6)).decode("ascii"),
    }


def apply_edit(labels: np.ndarray, event: dict) -> None:
    """Write a recorded edit into `labels` (the target array being rebuilt)."""
    box = tuple(slice(a, b) for a, b in event["box"])
    shape = tuple(b - a for a, b in event["box"])
    values = np.frombuffer(zlib.decompress(base64.b64decode(event["values"])), dtype=np.dtype(event["dtype"]))
    labels[box] = values.reshape(shape)
