"""2-D planes of nD arrays, read and written lazily.

A plane is fixed by an index: one integer per axis that is neither the row,
the column nor the channel axis. Only the requested region is read, so a
plane of a dask or zarr array never has to be loaded whole.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PlaneSpec:
    """Where a 2-D plane lies in an nD array.

    index: one entry per axis of the array; an int for fixed axes, None for
    the row, column and (when all channels are used) channel axes.
    channel_axis: the axis holding channels, or None. When `index` fixes it
    (an int there), a single channel is used.
    """

    index: tuple
    rows_axis: int
    cols_axis: int
    channel_axis: int | None = None

    def to_json(self) -> dict:
        return {"index": list(self.index), "rows_axis": self.rows_axis, "cols_axis": self.cols_axis,
                "channel_axis": self.channel_axis}

    @classmethod
    def from_json(cls, raw: dict) -> "PlaneSpec":
        index = tuple(None if v is None else int(v) for v in raw["index"])
        ch = raw.get("channel_axis")
        return cls(index, int(raw["rows_axis"]), int(raw["cols_axis"]), None if ch is None else int(ch))

    @property
    def uses_all_channels(self) -> bool:
        return self.channel_axis is not None and self.index[self.channel_axis] is None

    @property
    def channel_stack(self) -> bool:
        """All channels of an axis before the rows and columns (C x Y x X, T x C x Y x X): separate
        stains, not the trailing colour axis of an RGB(A) image."""
        return self.uses_all_channels and self.channel_axis < min(self.rows_axis, self.cols_axis)


class PlaneView:
    """A lazy (H, W) or (H, W, C) view of one plane of an nD array.

    Supports `view[y0:y1, x0:x1]` (what the session layer reads), and
    `read`/`write` of rectangular regions (what painting needs). Channels
    always come last, whatever their axis in the array.
    """

    def __init__(self, data, spec: PlaneSpec):
        self.data = data
        self.spec = spec
        ndim = len(data.shape)
        if len(spec.index) != ndim:
            raise ValueError(f"plane index {spec.index} does not match an array of {ndim} dimensions")
        if spec.rows_axis == spec.cols_axis:
            raise ValueError("rows and columns must be different axes")
        for axis, value in enumerate(spec.index):
            if value is None:
                continue
            if not 0 <= value < data.shape[axis]:
                raise IndexError(f"plane index {value} is outside axis {axis} of size {data.shape[axis]}")
        h, w = data.shape[spec.rows_axis], data.shape[spec.cols_axis]
        self.shape = (h, w, data.shape[spec.channel_axis]) if spec.uses_all_channels else (h, w)
        self.dtype = np.dtype(data.dtype)
        self.ndim = len(self.shape)
        self.channel_stack = spec.channel_stack  # ImageSource: never read as RGB

    def _full_index(self, rows: slice, cols: slice, channels=slice(None)) -> tuple:
        spec = self.spec
        full = []
        for axis, value in enumerate(spec.index):
            if axis == spec.rows_axis:
                full.append(rows)
            elif axis == spec.cols_axis:
                full.append(cols)
            elif axis == spec.channel_axis and value is None:
                full.append(channels)
            else:
                full.append(value)
        return tuple(full)

    def _order(self) -> list[int]:
        """Positions of rows, cols (and channels) among the axes that survive indexing."""
        spec = self.spec
        kept = [a for a, v in enumerate(spec.index) if v is None or a in (spec.rows_axis, spec.cols_axis)]
        wanted = [spec.rows_axis, spec.cols_axis] + ([spec.channel_axis] if spec.uses_all_channels else [])
        return [kept.index(a) for a in wanted]

    def __getitem__(self, key) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        rows = key[0] if len(key) > 0 else slice(None)
        cols = key[1] if len(key) > 1 else slice(None)
        channels = key[2] if len(key) > 2 else slice(None)
        if not all(isinstance(k, slice) for k in (rows, cols, channels)):
            raise TypeError("PlaneView supports slices only")
        region = self.data[self._full_index(rows, cols, channels)]
        if hasattr(region, "compute"):
            region = region.compute()
        return self._arrange(region)

    def _arrange(self, region) -> np.ndarray:
        region = np.asarray(region)
        order = self._order()
        return region if order == sorted(order) else np.transpose(region, order)

    def read_many(self, boxes: list[tuple[int, int, int, int]]) -> list[np.ndarray]:
        """Several (y0, y1, x0, x1) regions; lazy (dask) data computes them in one graph, so a
        chunk holding several regions is loaded once."""
        regions = [self.data[self._full_index(slice(y0, y1), slice(x0, x1))] for y0, y1, x0, x1 in boxes]
        if any(hasattr(r, "dask") for r in regions):
            import dask

            regions = dask.compute(*regions)
        return [self._arrange(r) for r in regions]

    def __array__(self, dtype=None, copy=None):
        out = self[:, :]
        return out if dtype is None else out.astype(dtype)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """The (y1-y0, x1-x0[, C]) region, clipped to the plane by the caller."""
        return self[y0:y1, x0:x1]

    def write(self, y0: int, y1: int, x0: int, x1: int, values: np.ndarray) -> None:
        """Write a 2-D region of a plane without channels (a labels plane)."""
        if self.spec.uses_all_channels:
            raise ValueError("cannot write a multi-channel plane")
        values = np.asarray(values)
        if self.spec.rows_axis > self.spec.cols_axis:
            values = values.T
        self.data[self._full_index(slice(y0, y1), slice(x0, x1))] = values
