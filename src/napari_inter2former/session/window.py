"""Choosing the decoding window around an object's clicks and mask, and growing it.

Windows are aligned to the token stride and kept inside the image (padded up
to the stride). A window is kept from click to click while it still holds
the object with a margin, so cached features and predictions stay stable.

Small objects are decoded magnified ("zoom"): a window narrower than
`zoom_side` is resampled up to it (at most `max_zoom` times) and encoded on
its own. On the validation nuclei, objects under ~600 px took ~6 clicks on
average to reach IoU 0.9 at native resolution and larger ones 1.6: a nucleus
8 px across is one stride-8 token, too coarse for a negative click beside a
positive one (the mask vanished). Magnified, it spans several tokens.

Large objects are decoded shrunk ("shrink"): a window wider than `zoom_side`
is resampled down to it. The model was trained on objects of at most ~180 px
in a 224 px crop; a cell 250-400 px across at native scale spans more tokens
than it ever saw, and the masks fell apart on val images enlarged x3 and x4.
A first click is first decoded on `probe` windows 2, 4 and 8 times zoom_side
wide, because the native first window shows a large object at that untrained
scale; the native window follows only when no probe finds a large object.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import torch

Box = tuple[int, int, int, int]  # (y0, y1, x0, x1), half-open


@dataclass(frozen=True)
class WindowPolicy:
    stride: int = 8
    min_side: int = 256
    # Largest window. A shrunk window is decoded at zoom_side whatever its size, so this only
    # bounds reading and resampling (2048² ~ 4 M pixels); objects wider than ~1000 px fit whole.
    max_side: int = 2048
    # Largest window when windows are not shrunk: 16k tokens, whose first-click full attention
    # stays around a second on 2 cores.
    native_max_side: int = 1024
    # Window side / object extent. 1.5 rather than 2.0: mid-sized cells are then magnified and
    # large ones shrunk less. Val Usiigaci NoC@90, paired on cells the value was not picked on:
    # 12.58 -> 12.40 (237 cells, SE 0.17); DSB unchanged (docs/model-card.md).
    context: float = 1.5
    keep_margin: int = 16  # px the object must stay away from a kept window's edge
    zoom_side: int = 256  # a narrower window is decoded magnified to this side...
    max_zoom: float = 2.0  # ...by at most this factor (1 turns zoom off); 3 and 4 measured no better
    min_zoom: float = 1.5  # below this factor, decode at native resolution from the tile cache
    # A window wider than zoom_side is decoded shrunk to it, so a large object spans about as many
    # tokens as in the training crops (objects of at most ~180 px). Val images enlarged x3 (Usiigaci
    # cells ~250 px): NoC@90 17.4 -> 12.5; x4: see docs/model-card.md. Unchanged at native scale.
    shrink: bool = True
    # A first click is first decoded on a window twice zoom_side wide (shrunk x0.5 there); if that
    # mask shows an object whose window would be shrunk, it is kept and the native 256 px window is
    # not decoded: there a large object's first mask stayed a small blob (val x4 Usiigaci mIoU@1
    # 0.40 -> 0.70).
    probe_large: bool = True
    # How many probe windows a first click may try, each twice as wide as the one before (512,
    # 1024, 2048 px), until one shows an object at least a quarter of its width. The interior of
    # an object over ~500 px looks like background in a 512 px window: val Usiigaci cells enlarged
    # to ~1300 px went from first-click IoU 0.001 / 0.009 / 0.43 to 0.80 / 0.53 / 0.43. Val, x3
    # and x4 scores were identical; a first click on a large image pays ~100 ms more.
    probe_levels: int = 3
    # Re-decode a first click magnified, from its clicks alone, once its mask shows the object is
    # small. Measured on val DSB: first-click mIoU 0.83 -> 0.79 but NoC@90 4.98 -> 4.24, as later
    # clicks then stay on one grid. Seeding that decode with the native mask instead gave 4.99.
    refine_first: bool = True
    # How far (px, a multiple of stride) a window may reach past the image border, where the
    # encoder sees zeros, as training crops do past theirs. Clamped inside the image, a border
    # object sat at the window's edge, which training never showed: emulated on val (images
    # padded by 96 px), DSB NoC@90 4.00 -> 3.69, mIoU@1 0.79 -> 0.85; Usiigaci 11.92 -> 11.72.
    overhang: int = 96
    # Average the logits with those of the window flipped left to right (encoded on its own; a
    # second decode per click). Val Usiigaci NoC@90, paired on 237 cells it was not picked on:
    # 12.40 -> 12.06 (SE 0.25); DSB 3.67 -> 3.77 (SE 0.13) (docs/model-card.md).
    mirror_average: bool = True
    # With mirror_average, also the views flipped top to bottom and both ways (four in all). Off:
    # on the same 237 cells 12.06 -> 11.89 (SE 0.24), DSB 3.77 -> 4.08 (SE 0.13).
    vertical_mirror: bool = False
    # False: a first click's probes and native window, decoded only to choose its window, use one
    # view; the decode the click keeps gets the flipped views. Benchmark first click p50 507 ->
    # 220 ms; val NoC@90 Usiigaci 12.06 -> 12.15 (SE 0.12), DSB 3.77 -> 3.76 (docs/model-card.md).
    flip_probes: bool = False
    # Bring a magnified or shrunk decode back to image pixels from its probabilities (bilinear,
    # antialiased when shrinking, then > 0.5) instead of from its binary mask (area majority):
    # where the decoding grid is finer than the image, a pixel on the outline then goes with the
    # model's confidence, not with a count of cells, and where it is coarser the outline falls
    # between cells. Val NoC@90, paired: DSB 3.76 -> 3.63 (SE 0.12), Usiigaci 12.15 -> 12.14
    # (SE 0.14) on 237 cells (docs/model-card.md, "Soft resampling").
    soft_resample: bool = True

    def __post_init__(self):
        # Checked here: a zero stride or side fails (or loops) at the first click, far from its cause.
        for name in ("stride", "min_side", "max_side", "native_max_side", "zoom_side"):
            if getattr(self, name) < 1:
                raise ValueError(f"WindowPolicy.{name} must be at least 1, got {getattr(self, name)}")
        for name in ("keep_margin", "overhang", "probe_levels"):
            if getattr(self, name) < 0:
                raise ValueError(f"WindowPolicy.{name} cannot be negative, got {getattr(self, name)}")
        if not self.context > 0:
            raise ValueError(f"WindowPolicy.context must be positive, got {self.context}")

    @classmethod
    def parse_overrides(cls, spec: str) -> dict:
        """`field=value,...` (e.g. `context=2.0,mirror_average=false`) -> field values, so tools
        can compare inference rules from the command line. Raises ValueError on unknown fields."""
        kinds = {f.name: getattr(f.type, "__name__", f.type) for f in dataclasses.fields(cls)}
        convert = {"int": int, "float": float, "bool": _parse_bool}
        overrides = {}
        for item in filter(None, spec.split(",")):
            name, _, value = item.partition("=")
            if name not in kinds:
                raise ValueError(f"{name!r} is not a WindowPolicy field ({', '.join(kinds)})")
            overrides[name] = convert[kinds[name]](value)
        return overrides

    def flip_views(self, size: tuple[int, int] | None = None) -> list[tuple[int, ...]]:
        """The flipped views (dims, as torch.flip takes them) averaged with the plain one, on a
        decode grid of `size` when given. Only on grids up to zoom_side (every decode of the
        default, shrinking policy): a native 1024 px window's own mirrored encoding took seconds."""
        if not self.mirror_average or (size is not None and max(size) > self.zoom_side):
            return []
        return [(-1,), (-2,), (-2, -1)] if self.vertical_mirror else [(-1,)]

    @property
    def cap(self) -> int:
        """The side no window grows beyond."""
        return self.max_side if self.shrink else min(self.max_side, self.native_max_side)

    def _round_up(self, v: int) -> int:
        return -(-v // self.stride) * self.stride

    def _round_down(self, v: int) -> int:
        return (v // self.stride) * self.stride

    def padded_extent(self, height: int, width: int) -> tuple[int, int]:
        return self._round_up(height), self._round_up(width)

    def _place(self, center: float, side: int, limit: int) -> tuple[int, int]:
        o = self.overhang
        side = min(side, limit + 2 * o)
        start = self._round_down(int(round(center - side / 2)))
        start = max(-o, min(start, limit + o - side))
        return start, start + side

    def choose(self, focus: Box, image_hw: tuple[int, int], current: Box | None = None, zoom: bool = True) -> Box:
        """A window holding `focus` (clicks and mask), reusing `current` when it still fits.

        zoom=False: a native-resolution window (for a first click, when the object's size is
        still unknown and the focus is only the click)."""
        hp, wp = self.padded_extent(*image_hw)
        fy0, fy1, fx0, fx1 = focus
        extent = max(fy1 - fy0, fx1 - fx0)
        wanted = self.context * extent
        magnify = zoom and self.max_zoom > 1 and self.zoom_side >= self.min_zoom * wanted
        # A native window is left for a magnified one once the object proves small.
        if current is not None and not (magnify and self.zoom(current) == 1.0):
            m = min(self.keep_margin, max(current[1] - current[0], current[3] - current[2]) // 8)
            cy0, cy1, cx0, cx1 = current
            o = self.overhang  # a window at the end of its range cannot move further that way
            fits_y = (fy0 - m >= cy0 or cy0 <= -o) and (fy1 + m <= cy1 or cy1 >= hp + o)
            fits_x = (fx0 - m >= cx0 or cx0 <= -o) and (fx1 + m <= cx1 or cx1 >= wp + o)
            if fits_y and fits_x:
                return current
        if magnify:
            side = self._round_up(int(math.ceil(max(wanted, self.zoom_side / self.max_zoom))))
        else:
            side = self._round_up(int(min(self.cap, max(self.min_side, wanted))))
        y0, y1 = self._place((fy0 + fy1) / 2, side, hp)
        x0, x1 = self._place((fx0 + fx1) / 2, side, wp)
        return y0, y1, x0, x1

    def probe(self, focus: Box, image_hw: tuple[int, int], level: int = 0) -> Box:
        """A window of 2**(level + 1) times zoom_side around `focus` (decoded shrunk when shrinking)."""
        hp, wp = self.padded_extent(*image_hw)
        side = min(self.cap, self.zoom_side << (level + 1))
        y0, y1 = self._place((focus[0] + focus[1]) / 2, side, hp)
        x0, x1 = self._place((focus[2] + focus[3]) / 2, side, wp)
        return y0, y1, x0, x1

    def zoom(self, window: Box) -> float:
        """The scale `window` is decoded at: above 1 magnified, below 1 shrunk (both encoded on
        their own), 1.0 native (features from the tile cache)."""
        side = max(window[1] - window[0], window[3] - window[2])
        if self.shrink and side > self.zoom_side:
            return self.zoom_side / side
        factor = min(self.max_zoom, self.zoom_side / side)
        return factor if self.max_zoom > 1 and factor >= self.min_zoom else 1.0

    def decode_size(self, window: Box) -> tuple[int, int]:
        """(height, width) of the grid `window` is decoded on: its own size, or magnified or
        shrunk and rounded up to the token stride."""
        h, w = window[1] - window[0], window[3] - window[2]
        factor = self.zoom(window)
        if factor == 1.0:
            return h, w
        return self._round_up(math.ceil(h * factor - 1e-6)), self._round_up(math.ceil(w * factor - 1e-6))

    def grow(self, window: Box, touches: tuple[bool, bool, bool, bool], image_hw: tuple[int, int]) -> Box | None:
        """Extend the window on the sides the mask touches (top, bottom, left, right).

        Each touched side moves out by half the window's size along that axis, capped by
        `cap` and the image. Returns None when the window cannot grow.
        """
        hp, wp = self.padded_extent(*image_hw)
        y0, y1, x0, x1 = window
        top, bottom, left, right = touches
        dy = self._round_up((y1 - y0) // 2)
        dx = self._round_up((x1 - x0) // 2)
        o = self.overhang
        ny0, ny1 = (max(-o, y0 - dy) if top else y0), (min(hp + o, y1 + dy) if bottom else y1)
        nx0, nx1 = (max(-o, x0 - dx) if left else x0), (min(wp + o, x1 + dx) if right else x1)
        if ny1 - ny0 > self.cap:
            ny0, ny1 = self._cut_span(y0, y1, ny0, ny1, hp)
        if nx1 - nx0 > self.cap:
            nx0, nx1 = self._cut_span(x0, x1, nx0, nx1, wp)
        new = (ny0, ny1, nx0, nx1)
        return None if new == window else new

    def _cut_span(self, lo: int, hi: int, new_lo: int, new_hi: int, limit: int) -> tuple[int, int]:
        """Cut a grown span to the cap while keeping the current window [lo, hi) inside it.

        Centring on the grown span instead slid the window away from the clicks when only one
        side moved, and shifted a full-size window a little at every step when the image
        border clipped the span, re-decoding up to MAX_GROWS times for nothing.
        """
        cap = self.cap
        if hi - lo >= cap:
            return lo, hi  # already full size: moving it would not show more of the object
        if new_lo == lo:
            return lo, lo + cap
        if new_hi == hi:
            return hi - cap, hi
        return self._place((lo + hi) / 2, cap, limit)


def mask_touches_edges(mask, window: Box, image_hw: tuple[int, int], stride: int) -> tuple[bool, bool, bool, bool]:
    """Which window sides the mask touches, ignoring sides on or past the image border."""
    hp, wp = -(-image_hw[0] // stride) * stride, -(-image_hw[1] // stride) * stride
    y0, y1, x0, x1 = window
    return (
        bool(y0 > 0 and mask[0].any()),
        bool(y1 < hp and mask[-1].any()),
        bool(x0 > 0 and mask[:, 0].any()),
        bool(x1 < wp and mask[:, -1].any()),
    )


def _source_index(window: Box, size: tuple[int, int], src_window: Box, src_size: tuple[int, int], axis: int):
    """For each cell of `window` decoded on `size`, the cell of `src_window` on `src_size` holding its
    centre (may be out of range). Image pixel k covers [k, k + 1)."""
    lo, hi = window[2 * axis], window[2 * axis + 1]
    slo, shi = src_window[2 * axis], src_window[2 * axis + 1]
    n, sn = size[axis], src_size[axis]
    centres = lo + (torch.arange(n, dtype=torch.float64) + 0.5) * (hi - lo) / n
    return torch.floor((centres - slo) * sn / (shi - slo)).long()


def resample_to_window(values: torch.Tensor, src_window: Box, window: Box, size: tuple[int, int],
                       fill: int) -> torch.Tensor:
    """Nearest-neighbour copy of a map over `src_window` (on its own grid) onto `window`
    decoded on `size`; cells outside `src_window` get `fill`. Exact crop when neither is zoomed."""
    src_size = tuple(values.shape[-2:])
    iy = _source_index(window, size, src_window, src_size, 0)
    ix = _source_index(window, size, src_window, src_size, 1)
    out = torch.full(size, fill, dtype=values.dtype)
    oky = (iy >= 0) & (iy < src_size[0])
    okx = (ix >= 0) & (ix < src_size[1])
    if oky.any() and okx.any():
        rows, cols = torch.nonzero(oky)[:, 0], torch.nonzero(okx)[:, 0]
        out[rows[:, None], cols[None, :]] = values[iy[rows][:, None], ix[cols][None, :]]
    return out


def to_decode_grid(window: Box, size: tuple[int, int], y: int, x: int) -> tuple[int, int]:
    """Image pixel (y, x) as a cell of `window` decoded on `size` (the cell holding its centre)."""
    h, w = window[1] - window[0], window[3] - window[2]
    return (int(math.floor((y - window[0] + 0.5) * size[0] / h)),
            int(math.floor((x - window[2] + 0.5) * size[1] / w)))


def to_native(mask: torch.Tensor, window: Box) -> torch.Tensor:
    """A bool mask on a magnified grid brought back to the window's pixels (area majority)."""
    h, w = window[1] - window[0], window[3] - window[2]
    if tuple(mask.shape) == (h, w):
        return mask
    frac = torch.nn.functional.interpolate(mask.float()[None, None], size=(h, w), mode="bilinear",
                                           align_corners=False, antialias=True)[0, 0]
    return frac >= 0.5


def probabilities_to_native(logits: torch.Tensor, window: Box) -> torch.Tensor:
    """Logits on a magnified or shrunk grid brought back to the window's pixels as a bool mask:
    their probabilities resampled (bilinear; antialiased, so averaged, where the grid is finer),
    then > 0.5. On the window's own grid this is just logits > 0."""
    h, w = window[1] - window[0], window[3] - window[2]
    if tuple(logits.shape) == (h, w):
        return logits > 0
    finer = logits.shape[0] > h or logits.shape[1] > w
    prob = torch.nn.functional.interpolate(torch.sigmoid(logits.float())[None, None], size=(h, w), mode="bilinear",
                                           align_corners=False, antialias=finer)[0, 0]
    return prob > 0.5


def clear_outside_image(mask: np.ndarray, window: Box, image_hw: tuple[int, int]) -> np.ndarray:
    """`mask` over `window` with everything past the image border set False (in place)."""
    y0, y1, x0, x1 = window
    h, w = image_hw
    mask[: max(0, -y0)] = False
    mask[max(0, h - y0):] = False
    mask[:, : max(0, -x0)] = False
    mask[:, max(0, w - x0):] = False
    return mask


def crop_to_image(mask: np.ndarray, window: Box, image_hw: tuple[int, int]) -> tuple[np.ndarray, tuple[int, int]]:
    """The part of `mask` (over `window`) inside the image, and its offset."""
    y0, y1, x0, x1 = window
    h, w = image_hw
    top, left = max(0, -y0), max(0, -x0)
    return mask[top : min(y1, h) - y0, left : min(x1, w) - x0].copy(), (y0 + top, x0 + left)


def _parse_bool(value: str) -> bool:
    if value.lower() in ("1", "true", "yes"):
        return True
    if value.lower() in ("0", "false", "no"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")
