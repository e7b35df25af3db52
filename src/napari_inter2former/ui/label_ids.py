"""New label ids from a counter: the target is scanned once, never on each commit."""

from __future__ import annotations

import numpy as np

from ..journal import LabelError, max_label


def array_max(data, block_bytes: int = 64 * 2**20) -> int:
    """Largest value of a numpy, dask or zarr array, read in blocks along the first axis."""
    if hasattr(data, "compute"):
        return int(data.max().compute())
    if isinstance(data, np.ndarray) or data.ndim == 0:
        return int(np.max(data)) if data.size else 0
    row_bytes = max(1, int(np.prod(data.shape[1:])) * np.dtype(data.dtype).itemsize)
    step = max(1, block_bytes // row_bytes)
    best = 0
    for start in range(0, data.shape[0], step):
        best = max(best, int(np.max(np.asarray(data[start : start + step]))))
    return best


class LabelIds:
    """Hands out ids above everything seen in the target (scan at start, then observed writes)."""

    def __init__(self, dtype, start_max: int = 0):
        self.limit = max_label(dtype)
        self._next = max(int(start_max), 0) + 1  # ids start at 1 even where the background is negative

    @property
    def next(self) -> int:
        return self._next

    def observe(self, value: int) -> None:
        """An id appeared in the target by other means (e.g. napari's paint brush)."""
        self._next = max(self._next, int(value) + 1)

    def give_back(self, value: int) -> None:
        """Return the id just taken, when the commit it was for wrote nothing."""
        if value == self._next - 1:
            self._next = value

    def take(self) -> int:
        if self._next > self.limit:
            # New ids go above the largest id in use (never reused), so a 0/255 mask is "full" too.
            raise LabelError(
                f"the target layer has no id left: new ids go above the largest in use ({self._next - 1}) "
                f"and its dtype holds ids up to {self.limit}. "
                "Pick or create a target with a larger integer type (e.g. uint32)"
            )
        value = self._next
        self._next += 1
        return value
