"""Interactive segmentation of one object: clicks in, mask out, with undo.

The session keeps the object's reference map R for its current window, on the
grid that window is decoded on (its pixels, or a magnified grid for a small
object, or a shrunk one for a large object: see WindowPolicy.zoom). Each click
paints its disk into R, the model decodes the window from the cached features,
and R absorbs the prediction. If the mask touches an inner window edge, the
window grows and the same step is re-run, so objects larger than the window or
crossing tile borders come out whole.
"""

from __future__ import annotations

import functools
import time
import zlib
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..model.reference_map import (
    LIKELY_BG,
    UNKNOWN,
    paint_click,
    seed_reference_map,
    update_reference_map,
)
from .clicks import Click, MaskResult
from .errors import ClickError
from .window import (
    Box,
    clear_outside_image,
    crop_to_image,
    mask_touches_edges,
    probabilities_to_native,
    resample_to_window,
    to_decode_grid,
    to_native,
)

if TYPE_CHECKING:
    from .predictor import Predictor

MAX_GROWS = 4


@dataclass
class _State:
    clicks: tuple[Click, ...]
    ref: torch.Tensor | None  # uint8 reference map of `window`, on its decoding grid
    window: Box | None
    predicted: bool  # has R absorbed a prediction (or a starting mask)?
    result: MaskResult | None


@dataclass(frozen=True)
class _Packed:
    """A _State kept for undo in compact form: the mask bit-packed and both arrays zlib-compressed.
    A window's mask is up to 2048² bytes; 200 undo steps of them would hold up to 800 MB."""

    clicks: tuple[Click, ...]
    ref: tuple[bytes, tuple[int, ...], str] | None  # compressed bytes, shape, dtype
    window: Box | None
    predicted: bool
    result: MaskResult | None  # with an empty mask; the real one is in `mask`
    mask: tuple[bytes, tuple[int, ...]] | None


def _pack(state: _State) -> _Packed:
    ref = None
    if state.ref is not None:
        array = state.ref.numpy()
        ref = (zlib.compress(array.tobytes(), 1), array.shape, array.dtype.str)
    result, mask = state.result, None
    if result is not None:
        mask = (zlib.compress(np.packbits(result.mask).tobytes(), 1), result.mask.shape)
        result = replace(result, mask=np.zeros((0, 0), bool))
    return _Packed(state.clicks, ref, state.window, state.predicted, result, mask)


def _unpack(packed: _Packed) -> _State:
    ref = None
    if packed.ref is not None:
        data, shape, dtype = packed.ref
        ref = torch.from_numpy(np.frombuffer(zlib.decompress(data), dtype).reshape(shape).copy())
    result = packed.result
    if result is not None:
        data, shape = packed.mask
        bits = np.frombuffer(zlib.decompress(data), np.uint8)
        mask = np.unpackbits(bits, count=int(np.prod(shape))).reshape(shape).astype(bool)
        result = replace(result, mask=mask)
    return _State(packed.clicks, ref, packed.window, packed.predicted, result)


def _union(a: Box, b: Box) -> Box:
    """The smallest box holding boxes a and b."""
    return min(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), max(a[3], b[3])


def hold_clicked_pixels(fg: np.ndarray, clicks, window: Box) -> np.ndarray:
    """Every clicked pixel takes its click's label (a later click on the same pixel wins).

    The user said what that pixel is, so the mask must agree; otherwise a corrective
    click on a one-pixel error band that the decoder (which sees clicks through R's
    disks) does not follow leaves the mask as it was, and the next click lands on the
    same pixel again. Only the pixel itself is certain: the disk around it may cross
    the object's edge.
    """
    y0, y1, x0, x1 = window
    for c in clicks:
        if y0 <= c.y < y1 and x0 <= c.x < x1:
            fg[c.y - y0, c.x - x0] = c.positive
    return fg


def _on_one_image(method):
    """The whole operation holds the predictor's lock: a `set_image` from another thread waits
    for it to end instead of switching the image between this click's decodes (probes, growth,
    a magnified decode), which gave masks of the wrong image."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self.predictor.lock:
            return method(self, *args, **kwargs)

    return wrapper


def _click_fields(click) -> tuple:
    """(y, x, positive) of a Click, a (y, x, positive) tuple or a (y, x) pair (positive)."""
    if isinstance(click, Click):
        return click.y, click.x, click.positive
    try:
        fields = tuple(click)
    except TypeError:
        raise ClickError(f"a click is (y, x) or (y, x, positive), got {click!r}") from None
    if len(fields) == 2:
        return (*fields, True)  # as add_click: positive unless told
    if len(fields) != 3:
        raise ClickError(f"a click is (y, x) or (y, x, positive), got {click!r}")
    return fields


class ObjectSession:
    """One object on the predictor's current image. One caller at a time per session; sessions
    of one predictor may run in several threads (each operation holds the predictor's lock)."""

    def __init__(self, predictor: "Predictor", max_history: int = 200):
        self.predictor = predictor
        self.max_history = max_history
        # The image this object is on: a session must not carry its clicks over to another one.
        self._source, self._image_key = predictor.source, predictor.image_key
        self._state = _State((), None, None, False, None)
        self._base = self._state  # where a full replay starts: empty, or the seeded mask
        self._history: list[tuple[_Packed, _State]] = []  # (state, base then): undo restores both

    # ----- read-only views
    @property
    def clicks(self) -> list[Click]:
        return list(self._state.clicks)

    @property
    def result(self) -> MaskResult | None:
        return self._state.result

    @property
    def can_undo(self) -> bool:
        return bool(self._history)

    # ----- editing
    def _check_image(self) -> None:
        """ClickError if the predictor moved to another image since this session began (the same
        key, e.g. the widget coming back to a plane, is the same image)."""
        pred = self.predictor
        same = pred.has_image and (pred.source is self._source
                                   or (self._image_key is not None and pred.image_key == self._image_key))
        if not same:
            raise ClickError("the predictor's image changed since this object began: "
                             "start a new one with predictor.new_session()")

    def _checked_click(self, y, x, positive) -> Click:
        """A click rounded to its pixel; ClickError if it is not inside the image."""
        self._check_image()
        height, width = self.predictor.image_shape
        if not isinstance(positive, (bool, np.bool_)) and positive not in (0, 1):
            raise ClickError(f"a click's polarity must be True or False, got {positive!r}")
        try:
            fy, fx = float(y), float(x)
        except (TypeError, ValueError):
            raise ClickError(f"click ({y!r}, {x!r}) needs numeric coordinates") from None
        except OverflowError:  # an int past float's range (printing it could take 400 digits)
            raise ClickError(f"a click coordinate is too large for the image of shape {(height, width)}") from None
        if not (np.isfinite(fy) and np.isfinite(fx)):
            raise ClickError(f"click ({y}, {x}) has a non-finite coordinate")
        y, x = int(round(fy)), int(round(fx))
        if not (0 <= y < height and 0 <= x < width):
            raise ClickError(f"click ({y}, {x}) is outside the image of shape {(height, width)}")
        return Click(y, x, bool(positive))

    @_on_one_image
    def add_click(self, y: int, x: int, positive: bool = True, progress=None) -> MaskResult:
        """Add a click at pixel (y, x) and predict. Raises ClickError outside the image."""
        click = self._checked_click(y, x, positive)
        self._push_history()
        try:
            return self._predict(self._state.clicks + (click,), progress)
        except BaseException:  # Ctrl+C in a progress callback too: no undo step that does nothing
            self._pop_history()
            raise

    @_on_one_image
    def set_clicks(self, clicks: list[Click], progress=None) -> MaskResult | None:
        """Replay a whole prompt set from scratch (e.g. after a point was moved or deleted).
        Clicks may be Click, (y, x, positive) or (y, x) (positive)."""
        self._check_image()
        # Validate before touching the state, as add_click does.
        clicks = [self._checked_click(*_click_fields(c)) for c in clicks]
        start = self._base
        self._push_history()
        self._state = _State((), start.ref, start.window, start.predicted, start.result)
        try:
            result = start.result
            for i in range(len(clicks)):
                result = self._predict(tuple(clicks[: i + 1]), progress)
            return result
        except BaseException:  # Ctrl+C in a progress callback too: no undo step that does nothing
            self._pop_history()
            raise

    @_on_one_image
    def start_from_mask(self, mask: np.ndarray, offset: tuple[int, int] = (0, 0)) -> None:
        """Seed the object with an existing mask (to edit a label, or carry it to another slice).

        R becomes probably-foreground inside the mask and probably-background around it.
        """
        self._check_image()
        mask = np.asarray(mask, dtype=bool)
        if mask.ndim != 2:
            raise ValueError(f"a starting mask must be 2-D, got shape {mask.shape}")
        height, width = self.predictor.image_shape
        try:
            oy, ox = (int(v) for v in offset)
            whole = all(v == int(v) for v in offset)  # no float(): a huge int would overflow it
        except (TypeError, ValueError, OverflowError):  # OverflowError: an infinite float
            whole = False
        if not whole:
            raise ValueError(f"the offset of a starting mask is two whole numbers (y, x), got {offset!r}")
        if not (-mask.shape[0] < oy < height and -mask.shape[1] < ox < width):
            # Checked on Python ints: numpy's int64 arithmetic below would overflow on a huge offset.
            raise ValueError(f"the starting mask (offset {offset}, shape {mask.shape}) lies outside the image "
                             f"of shape {(height, width)}")
        rows = np.flatnonzero(mask.any(axis=1))
        if rows.size == 0:
            raise ValueError("the starting mask is empty")
        cols = np.flatnonzero(mask.any(axis=0))
        focus = (oy + rows[0], oy + rows[-1] + 1, ox + cols[0], ox + cols[-1] + 1)
        window = self.predictor.window_policy.choose(focus, (height, width))
        y0, y1, x0, x1 = window
        local = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        sy0, sy1 = max(y0, oy, 0), min(y1, oy + mask.shape[0], height)
        sx0, sx1 = max(x0, ox, 0), min(x1, ox + mask.shape[1], width)
        if sy0 < sy1 and sx0 < sx1:
            local[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = mask[sy0 - oy : sy1 - oy, sx0 - ox : sx1 - ox]
        if not local.any():
            raise ValueError(f"the starting mask (offset {offset}, shape {mask.shape}) lies outside the image "
                             f"of shape {(height, width)}")
        ref = seed_reference_map(local)
        size = self.predictor.window_policy.decode_size(window)
        if size != tuple(ref.shape):
            ref = resample_to_window(ref, window, window, size, LIKELY_BG)
        self._push_history()
        result = MaskResult(*crop_to_image(local, window, (height, width)))
        self._state = self._base = _State((), ref, window, True, result)

    @_on_one_image
    def predict(self, progress=None) -> MaskResult:
        """Predict from the current prompts alone (e.g. a mask carried from another slice)."""
        self._check_image()
        if not self._state.clicks and self._state.ref is None:
            raise ClickError("nothing to predict from: add a click or start from a mask")
        self._push_history()
        try:
            return self._predict(self._state.clicks, progress, repaint=False)
        except BaseException:  # Ctrl+C in a progress callback too: no undo step that does nothing
            self._pop_history()
            raise

    @_on_one_image
    def undo(self) -> MaskResult | None:
        """Go back one step (click, replay or seed); returns the restored result."""
        self._check_image()
        if self._history:
            self._pop_history()
        return self._state.result

    def reset(self) -> None:
        self._history.clear()
        self._state = self._base = _State((), None, None, False, None)

    # ----- internals
    def _push_history(self) -> None:
        # Each state holds a window-sized mask and reference map: kept packed, and the depth bounded.
        # The base is kept by reference: there are only as many as seeds, and undoing a seed
        # must also stop later replays (set_clicks) from starting at it.
        self._history.append((_pack(self._state), self._base))
        del self._history[: max(0, len(self._history) - self.max_history)]

    def _pop_history(self) -> None:
        packed, self._base = self._history.pop()
        self._state = _unpack(packed)

    def _focus(self, clicks: tuple[Click, ...]) -> Box:
        r = self.predictor.model.config.click_radius
        ys = [c.y for c in clicks]
        xs = [c.x for c in clicks]
        box = [min(ys) - r, max(ys) + r + 1, min(xs) - r, max(xs) + r + 1] if clicks else None
        prev = self._state.result.bbox if self._state.result is not None else None
        if prev is not None:
            box = list(prev) if box is None else [min(box[0], prev[0]), max(box[1], prev[1]),
                                                  min(box[2], prev[2]), max(box[3], prev[3])]
        if box is None:
            box = list(self._state.window)
        return tuple(int(v) for v in box)

    def _ref_for(self, window: Box, size: tuple[int, int]) -> torch.Tensor:
        """The object's R re-cut to `window` on grid `size`: new area is unknown before any
        prediction, probably background after one (the object was not predicted there)."""
        st = self._state
        fill = LIKELY_BG if st.predicted else UNKNOWN
        if st.ref is None or st.window is None:
            return torch.full(size, fill, dtype=torch.uint8)
        return resample_to_window(st.ref, st.window, window, size, fill)

    def _decode_growing(self, window: Box, clicks: tuple[Click, ...], repaint: bool, progress, views: bool = True,
                        plain: dict | None = None):
        """Decode `window`, growing it while the mask touches an inner edge; `views`: average
        the policy's flipped views too. `plain` maps window -> (ref, one-view logits): one-view
        decodes are put there, and a decode with views takes its plain view from there when
        window and ref match. Returns (window, ref, decoded on the decoding grid, native fg, grows)."""
        pred = self.predictor
        hw = pred.image_shape
        grows = 0
        while True:
            size = pred.window_policy.decode_size(window)
            ref = self._ref_for(window, size)
            for c in (clicks if repaint else ()):
                # All clicks are re-painted: a grown window may newly contain part of an old disk.
                cy, cx = to_decode_grid(window, size, c.y, c.x)
                paint_click(ref, cy, cx, c.positive, pred.model.config.click_radius)
            earlier = plain.get(window) if plain is not None and views else None
            known = earlier[1] if earlier is not None and torch.equal(earlier[0], ref) else None
            logits = pred.decode_window_logits(window, ref, progress, views=views, plain=known)
            if plain is not None and not views:
                plain[window] = (ref.clone(), logits)
            decoded = logits > 0
            native = (probabilities_to_native(logits, window) if pred.window_policy.soft_resample
                      else to_native(decoded, window))
            fg = clear_outside_image(native.numpy().copy(), window, hw)
            fg = hold_clicked_pixels(fg, clicks, window)
            touches = mask_touches_edges(fg, window, hw, pred.window_policy.stride)
            bigger = pred.window_policy.grow(window, touches, hw) if any(touches) and grows < MAX_GROWS else None
            if bigger is None:
                return window, ref, decoded, fg, grows
            window, grows = bigger, grows + 1

    def _probe_large(self, focus: Box, window: Box, clicks: tuple[Click, ...], repaint: bool, progress,
                     views: bool = True, plain: dict | None = None):
        """First click: decode windows 2, 4, 8 times zoom_side wide (up to probe_levels), shrunk.
        Return the first decode (as _decode_growing gives it) whose mask shows an object large
        enough for a shrunk window; else None, and the native first window is decoded. That window
        shows a large object at a scale the model was never trained on."""
        pred = self.predictor
        hw = pred.image_shape
        policy = pred.window_policy
        if not (policy.probe_large and policy.shrink):
            return None
        if policy.zoom(window) < 1.0:
            return None  # many clicks already: the first window is shrunk anyway
        seen = window
        for level in range(policy.probe_levels):
            probe = policy.probe(focus, hw, level)
            if probe == seen:
                return None  # the image (or the cap) allows no wider window
            seen = probe
            decoded = self._decode_growing(probe, clicks, repaint, progress, views, plain)
            box = MaskResult(decoded[3], (decoded[0][0], decoded[0][2])).bbox
            if box is None:
                continue
            # Wide enough for a shrunk window, and (coarser probes) a quarter of this probe's width:
            # at x0.25 or less a small object is a few pixels and its mask is not to be trusted.
            extent = max(box[1] - box[0], box[3] - box[2])
            wide = extent * 4 >= max(probe[1] - probe[0], probe[3] - probe[2]) or level == 0
            if wide and policy.zoom(policy.choose(_union(focus, box), hw)) < 1.0:
                return decoded
        return None

    def _predict(self, clicks: tuple[Click, ...], progress, repaint: bool = True) -> MaskResult:
        pred = self.predictor
        started = time.perf_counter()
        encode_before, tiles_before = pred.cache.encode_seconds, pred.cache.tiles_encoded
        hw = pred.image_shape
        # Until something was predicted, the focus is only the clicks: the object's size is
        # unknown, so the first window is native; later ones may magnify a small object.
        focus = self._focus(clicks)
        window = pred.window_policy.choose(focus, hw, self._state.window, zoom=self._state.predicted)
        # The probe goes first: when it finds a large object, the native window is never decoded,
        # so its tiles are never encoded (about a second on a new area of a large image).
        # A first click's probes and native window may be decoded in one view, only to choose
        # the window; the decode it keeps then gets the flipped views too (flip_probes=False).
        views = self._state.predicted or pred.window_policy.flip_probes
        plain = {}  # one-view decodes, so that the kept window's views decode only its flips
        large = (None if self._state.predicted
                 else self._probe_large(focus, window, clicks, repaint, progress, views, plain))
        if large is not None:
            window, ref, decoded, fg, grows = large
        else:
            window, ref, decoded, fg, grows = self._decode_growing(window, clicks, repaint, progress, views, plain)
        refined = False
        if large is None and not self._state.predicted and pred.window_policy.refine_first:
            # First prediction: now the object's size is known. A small one is decoded again,
            # magnified, from the same prompts (an extra encoding of one small window).
            mask_box = MaskResult(fg, (window[0], window[2])).bbox
            if mask_box is not None:
                small = pred.window_policy.choose(_union(focus, mask_box), hw, window, zoom=True)
                if small != window and pred.window_policy.zoom(small) > 1.0:
                    window, ref, decoded, fg, more = self._decode_growing(small, clicks, repaint, progress)
                    grows, refined = grows + more, True
        if not views and not refined and pred.window_policy.flip_views(pred.window_policy.decode_size(window)):
            window, ref, decoded, fg, more = self._decode_growing(window, clicks, repaint, progress, plain=plain)
            grows += more
        mask, offset = crop_to_image(fg, window, hw)
        result = MaskResult(
            mask, offset, latency_s=time.perf_counter() - started,
            encode_s=pred.cache.encode_seconds - encode_before,
            tiles_encoded=pred.cache.tiles_encoded - tiles_before, window_grows=grows,
            extra={"zoom": pred.window_policy.zoom(window)},
        )
        new_ref = update_reference_map(ref, torch.from_numpy(fg) if decoded.shape == fg.shape else decoded)
        self._state = _State(tuple(clicks), new_ref, window, True, result)
        return result
