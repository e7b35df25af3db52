"""Choosing the decoding window around an object's clicks and mask, and growing it.

Windows are aligned to the token stride and kept inside the image (padded up
to the stride). A window is kept from click to click while it still holds
the object with a margin, so cached features and predictions stay stable.
"""

from __future__ import annotations

from dataclasses import dataclass

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


@dataclass(frozen=True)
class WindowPolicy:
    stride: int = 8
    min_side: int = 256
    max_side: int = 1024  # 16k tokens: first-click full attention stays around a second on 2 cores
    context: float = 2.0  # window side / object extent
    keep_margin: int = 16  # px the object must stay away from a kept window's edge

    def _round_up(self, v: int) -> int:
        return -(-v // self.stride) * self.stride

    def _round_down(self, v: int) -> int:
        return (v // self.stride) * self.stride

    def padded_extent(self, height: int, width: int) -> tuple[int, int]:
        return self._round_up(height), self._round_up(width)

    def _place(self, center: float, side: int, limit: int) -> tuple[int, int]:
        side = min(side, limit)
        start = self._round_down(int(round(center - side / 2)))
        start = max(0, min(start, limit - side))
        return start, start + side

    def choose(self, focus: Box, image_hw: tuple[int, int], current: Box | None = None) -> Box:
        """A window holding `focus` (clicks and mask), reusing `current` when it still fits."""
        hp, wp = self.padded_extent(*image_hw)
        fy0, fy1, fx0, fx1 = focus
        if current is not None:
            m = self.keep_margin
            cy0, cy1, cx0, cx1 = current
            fits_y = (fy0 - m >= cy0 or cy0 == 0) and (fy1 + m <= cy1 or cy1 == hp)
            fits_x = (fx0 - m >= cx0 or cx0 == 0) and (fx1 + m <= cx1 or cx1 == wp)
            if fits_y and fits_x:
                return current
        extent = max(fy1 - fy0, fx1 - fx0)
        side = self._round_up(int(min(self.max_side, max(self.min_side, self.context * extent))))
        y0, y1 = self._place((fy0 + fy1) / 2, side, hp)
        x0, x1 = self._place((fx0 + fx1) / 2, side, wp)
        return y0, y1, x0, x1

    def grow(self, window: Box, touches: tuple[bool, bool, bool, bool], image_hw: tuple[int, int]) -> Box | None:
        """Extend the window on the sides the mask touches (top, bottom, left, right).

        Each touched side moves out by half the window's size along that axis, capped by
        max_side and the image. Returns None when the window cannot grow.
        """
        hp, wp = self.padded_extent(*image_hw)
        y0, y1, x0, x1 = window
        top, bottom, left, right = touches
        dy = self._round_up((y1 - y0) // 2)
        dx = self._round_up((x1 - x0) // 2)
        ny0, ny1 = (max(0, y0 - dy) if top else y0), (min(hp, y1 + dy) if bottom else y1)
        nx0, nx1 = (max(0, x0 - dx) if left else x0), (min(wp, x1 + dx) if right else x1)
        if ny1 - ny0 > self.max_side:
            ny0, ny1 = self._cap(y0, y1, ny0, ny1, hp)
        if nx1 - nx0 > self.max_side:
            nx0, nx1 = self._cap(x0, x1, nx0, nx1, wp)
        new = (ny0, ny1, nx0, nx1)
        return None if new == window else new

    def _cap(self, lo: int, hi: int, new_lo: int, new_hi: int, limit: int) -> tuple[int, int]:
        """Cut a grown span to max_side while keeping the current window [lo, hi) inside it.

        Centring on the grown span instead slid the window away from the clicks when only one
        side moved, and shifted a full-size window a little at every step when the image
        border clipped the span, re-decoding up to MAX_GROWS times for nothing.
        """
        if hi - lo >= self.max_side:
            return lo, hi  # already full size: moving it would not show more of the object
        if new_lo == lo:
            return lo, lo + self.max_side
        if new_hi == hi:
            return hi - self.max_side, hi
        return self._place((lo + hi) / 2, self.max_side, limit)


def mask_touches_edges(mask, window: Box, image_hw: tuple[int, int], stride: int) -> tuple[bool, bool, bool, bool]:
    """Which window sides the mask touches, ignoring sides that lie on the image border."""
    hp, wp = -(-image_hw[0] // stride) * stride, -(-image_hw[1] // stride) * stride
    y0, y1, x0, x1 = window
    return (
        bool(y0 > 0 and mask[0].any()),
        bool(y1 < hp and mask[-1].any()),
        bool(x0 > 0 and mask[:, 0].any()),
        bool(x1 < wp and mask[:, -1].any()),
    )
