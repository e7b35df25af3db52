"""A user's click and the result of one prediction."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Click:
    y: int
    x: int
    positive: bool = True


@dataclass
class MaskResult:
    """The object's mask inside its decoding window (never a full-image array).

    `mask` is bool (h, w) placed at `offset` = (y0, x0) in image coordinates.
    """

    mask: np.ndarray
    offset: tuple[int, int]
    latency_s: float = 0.0
    encode_s: float = 0.0
    tiles_encoded: int = 0
    window_grows: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not bool(self.mask.any())

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def window(self) -> tuple[int, int, int, int]:
        """(y0, y1, x0, x1) of the mask array in image coordinates."""
        y0, x0 = self.offset
        return y0, y0 + self.mask.shape[0], x0, x0 + self.mask.shape[1]

    @property
    def bbox(self) -> tuple[int, int, int, int] | None:
        """Tight (y0, y1, x0, x1) of the foreground in image coordinates, or None."""
        rows = np.flatnonzero(self.mask.any(axis=1))
        if rows.size == 0:
            return None
        cols = np.flatnonzero(self.mask.any(axis=0))
        y0, x0 = self.offset
        return y0 + rows[0], y0 + rows[-1] + 1, x0 + cols[0], x0 + cols[-1] + 1

    def cropped(self) -> "MaskResult":
        """The same result cut to its tight bounding box (a 0x0 mask when empty)."""
        box = self.bbox
        if box is None:
            return MaskResult(np.zeros((0, 0), bool), self.offset, self.latency_s, self.encode_s,
                              self.tiles_encoded, self.window_grows, dict(self.extra))
        y0, y1, x0, x1 = box
        oy, ox = self.offset
        return MaskResult(self.mask[y0 - oy : y1 - oy, x0 - ox : x1 - ox], (y0, x0), self.latency_s,
                          self.encode_s, self.tiles_encoded, self.window_grows, dict(self.extra))

    def to_full(self, shape: tuple[int, int]) -> np.ndarray:
        """Paste into a full (H, W) bool array (for small images and tests)."""
        full = np.zeros(shape, dtype=bool)
        y0, y1, x0, x1 = self.window
        full[y0:y1, x0:x1] = self.mask
        return full
