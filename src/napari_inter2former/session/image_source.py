"""Read normalised 3-channel regions from a 2-D image that may be lazy (dask, zarr).

Intensities are normalised with percentiles of the whole slice (a strided sample of
an in-memory image, a grid of patches of a big lazy one), so every tile is scaled alike
and tiles never disagree at seams.
Channel policy: 1 channel -> grey; 3 (or 4, alpha dropped) trailing channels -> RGB;
a channel stack (channel_axis=0) and other counts -> the maximum over individually
normalised channels (a fluorescence overlay).
"""

from __future__ import annotations

import numpy as np

from .errors import ImageError

MIN_SIDE = 8
LOW_PERCENTILE, HIGH_PERCENTILE = 0.5, 99.8
_DIRECT_STATS_PIXELS = 4_000_000  # lazy images below this are read whole for the percentiles
_PATCH, _PATCH_GRID = 128, 8  # larger lazy ones: an 8x8 grid of 128^2 patches only
_BAND_PIXELS = 16_000_000  # the full min/max pass reads row bands of about this many values
_NOT_FINITE = "image contains NaN or infinite values; replace them before segmenting"
MAX_CHANNELS_LAST = 8  # a last axis longer than this and than a side is not channels


def checked_range(intensity_range) -> tuple[float, float]:
    """(low, high) as floats; ImageError unless it is two numbers."""
    try:
        low, high = (float(v) for v in intensity_range)
    except (TypeError, ValueError):
        raise ImageError(f"intensity_range must be two numbers (low, high), got {intensity_range!r}") from None
    return low, high


def _is_dask(array) -> bool:
    return hasattr(array, "dask") and hasattr(array, "compute")


def _in_memory(array) -> bool:
    """A numpy array in RAM, or a plane of one (journal.planes.PlaneView): a strided read of the
    whole image costs little. Not a memmap: striding one reads pages across the whole file."""
    backing = array.data if hasattr(array, "read_many") else array
    return isinstance(backing, np.ndarray) and not isinstance(backing, np.memmap)


class ImageSource:
    """A 2-D (H, W) or (H, W, C) image; `channel_axis` says where channels are if not last."""

    def __init__(self, array, channel_axis: int | None = None, intensity_range: tuple[float, float] | None = None):
        if not hasattr(array, "shape") or not hasattr(array, "dtype"):
            array = np.asarray(array)
        ndim = len(array.shape)
        if channel_axis is not None and not -ndim <= channel_axis < ndim:
            raise ImageError(f"channel_axis {channel_axis} does not exist in a {ndim}-D image")
        if ndim == 3 and channel_axis is not None and channel_axis % 3 != 2:
            if channel_axis % 3 != 0:
                raise ImageError(f"channel_axis must be first or last of a 3-D image, got {channel_axis}")
            self._channels_first = True
        else:
            self._channels_first = False
        if ndim not in (2, 3):
            raise ImageError(
                f"expected a 2-D image (H, W) or (H, W, C), got {ndim}-D shape {tuple(array.shape)}; "
                "pass one slice of a volume at a time"
            )
        try:
            dtype = np.dtype(array.dtype)
        except TypeError:  # a torch tensor's dtype, say
            raise ImageError(f"cannot read an image of type {type(array).__name__} (dtype {array.dtype}): pass a "
                             "numpy array (for a torch tensor: tensor.numpy())") from None
        if dtype.kind not in "uif" and dtype != np.bool_:
            raise ImageError(f"unsupported image dtype {dtype}: use integer or floating point")
        self.array = array
        # float32 holds 8/16-bit values and float32 data exactly. Wider types are normalised in
        # float64: a float32 cast of 1e9 + signal (or of values past 3.4e38) destroys the signal.
        exact = dtype == np.bool_ or dtype.itemsize <= 2 or dtype == np.float32
        self._work = np.dtype(np.float32 if exact else np.float64)
        if ndim == 2:
            self.height, self.width, self.channels = (*array.shape, 1)
        elif self._channels_first:
            self.channels, self.height, self.width = array.shape
        else:
            self.height, self.width, self.channels = array.shape
        # A (C, H, W) stack or a (Z, Y, X) volume lands here read as H x W x C.
        read_as = (
            f"the 3-D array {tuple(array.shape)} was read as (H, W, C) with {self.channels} channels: "
            "pass channel_axis=0 for channel-first data, or one slice of a volume"
        )
        if min(self.height, self.width) < MIN_SIDE:
            message = f"image of shape {(self.height, self.width)} is too small: each side needs >= {MIN_SIDE} px"
            if ndim == 3 and not self._channels_first:
                message += "; " + read_as
            elif ndim == 2 and max(self.height, self.width) >= MIN_SIDE:
                # napari shows a (Y, X, C) stack as Y planes of X x C unless told the channel axis.
                message += ("; if that short axis holds channels, open the image with channel_axis "
                            "(napari splits the channels into layers)")
            raise ImageError(message)
        if ndim == 3 and not self._channels_first and self.channels > MAX_CHANNELS_LAST and \
                self.channels >= min(self.height, self.width):
            # More channels than rows or columns: a volume or a channel-first stack, not colour.
            raise ImageError(f"{self.channels} channels on a {self.height} x {self.width} image looks wrong; " + read_as)
        if self.channels < 1:
            raise ImageError("image has no channels")
        # A channel stack (channel_axis=0, or a plane whose channels precede its rows and columns)
        # holds separate stains: never colour, whatever their count.
        stack = self._channels_first or bool(getattr(array, "channel_stack", False))
        self.rgb = self.channels in (3, 4) and not stack
        if intensity_range is None:
            self.low, self.high = self._percentiles()
        else:  # given (a viewer's contrast limits): the same for every channel, nothing is read
            self.low, self.high = self._given_range(intensity_range)
        self._half_low = self.low * 0.5
        self._half_spread = self.high * 0.5 - self._half_low

    @property
    def shape(self) -> tuple[int, int]:
        return self.height, self.width

    def _raw(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Region as float32 or float64 (see __init__) (h, w, C), read only where asked."""
        region = self._slice(y0, y1, x0, x1)
        return self._as_region(region.compute() if hasattr(region, "compute") else region)

    def _slice(self, y0: int, y1: int, x0: int, x1: int):
        """The region of the array as it comes (lazy arrays stay lazy)."""
        return self.array[:, y0:y1, x0:x1] if self._channels_first else self.array[y0:y1, x0:x1]

    def _as_region(self, region) -> np.ndarray:
        region = np.asarray(region, dtype=self._work)
        if region.ndim == 2:
            region = region[..., None]
        elif self._channels_first:
            region = np.moveaxis(region, 0, -1)
        return region

    def _sample(self) -> np.ndarray:
        h, w = self.height, self.width
        if _in_memory(self.array):
            # About a million pixels spread over the whole image: the percentiles do not depend
            # on where the objects sit, as they would with patches at fixed places.
            step = max(1, int(np.sqrt(h * w / 1_000_000)))
            strided = self.array[:, ::step, ::step] if self._channels_first else self.array[::step, ::step]
            return self._as_region(strided)
        if h * w <= _DIRECT_STATS_PIXELS:
            return self._raw(0, h, 0, w)
        corners = [(gy, gx) for gy in np.linspace(0, max(0, h - _PATCH), _PATCH_GRID).astype(int)
                   for gx in np.linspace(0, max(0, w - _PATCH), _PATCH_GRID).astype(int)]
        # All patches in one read: on dask data a chunk holding several of them is loaded once,
        # not once per patch (4096² chunks of an 8192² plane: 16x the plane's pixels otherwise).
        boxes = [(y, y + _PATCH, x, x + _PATCH) for y, x in corners]
        if hasattr(self.array, "read_many"):  # a plane of an nD layer (journal.planes.PlaneView)
            patches = [self._as_region(r) for r in self.array.read_many(boxes)]
        elif _is_dask(self.array):
            import dask

            patches = [self._as_region(r) for r in dask.compute(*(self._slice(*box) for box in boxes))]
        else:
            patches = [self._raw(*box) for box in boxes]
        return np.concatenate([p.reshape(-1, self.channels) for p in patches])[:, None, :]

    def _percentiles(self) -> tuple[np.ndarray, np.ndarray]:
        sample = self._sample().reshape(-1, self.channels)
        if not np.isfinite(sample).all():
            raise ImageError(_NOT_FINITE)
        # On halved values (exact: a power of two), so interpolating between values near the
        # dtype's limits cannot overflow.
        half = sample * 0.5
        low = (np.percentile(half, LOW_PERCENTILE, axis=0) * 2).astype(self._work)
        high = (np.percentile(half, HIGH_PERCENTILE, axis=0) * 2).astype(self._work)
        flat = high <= low
        if flat.all():
            lo, hi = sample.min(axis=0), sample.max(axis=0)
            if (hi <= lo).all():
                # The sampled patches of a big image can all miss a few small objects on a flat
                # background: only the whole image can say it is constant.
                lo, hi = self._extremes()
            if (hi <= lo).all():
                raise ImageError("image is constant (every pixel has the same value): nothing to segment")
            low, high = lo.astype(self._work), hi.astype(self._work)
        # low + 1 is low itself for huge values: then any positive spread
        high = np.where(high > low, high, np.maximum(low + 1.0, np.nextafter(low, np.inf))).astype(self._work)
        return low, high

    def _given_range(self, intensity_range) -> tuple[np.ndarray, np.ndarray]:
        low, high = checked_range(intensity_range)
        cast_low, cast_high = self._work.type(low), self._work.type(high)  # as the image is normalised
        if not (np.isfinite(cast_low) and np.isfinite(cast_high) and cast_high > cast_low):
            raise ImageError(f"intensity_range must be finite with low < high (in {self._work}), got ({low}, {high})")
        return (np.full(self.channels, cast_low, self._work), np.full(self.channels, cast_high, self._work))

    def _extremes(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel min and max of the whole image, read in row bands (bounded memory)."""
        h, w = self.height, self.width
        if _is_dask(self.array):  # one graph: each chunk is loaded once
            import dask

            axes = (1, 2) if self._channels_first else (0, 1)
            lo, hi = dask.compute(self.array.min(axis=axes), self.array.max(axis=axes))
            lo, hi = np.asarray(lo, dtype=self._work), np.asarray(hi, dtype=self._work)
            if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
                raise ImageError(_NOT_FINITE)
            return lo.reshape(-1), hi.reshape(-1)
        band = max(1, _BAND_PIXELS // (w * self.channels))
        lo = np.full(self.channels, np.inf, self._work)
        hi = np.full(self.channels, -np.inf, self._work)
        for y in range(0, h, band):
            region = self._raw(y, min(h, y + band), 0, w).reshape(-1, self.channels)
            if not np.isfinite(region).all():
                raise ImageError(f"image rows {y}:{min(h, y + band)} contain NaN or infinite values; "
                                 "replace them before segmenting")
            lo, hi = np.minimum(lo, region.min(axis=0)), np.maximum(hi, region.max(axis=0))
        return lo, hi

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Normalised float32 (3, y1-y0, x1-x0); zero outside the image."""
        out = np.zeros((3, y1 - y0, x1 - x0), dtype=np.float32)
        ry0, ry1 = max(0, y0), min(self.height, y1)
        rx0, rx1 = max(0, x0), min(self.width, x1)
        if ry0 >= ry1 or rx0 >= rx1:
            return out
        raw = self._raw(ry0, ry1, rx0, rx1)
        if not np.isfinite(raw).all():
            raise ImageError(f"image region y {ry0}:{ry1}, x {rx0}:{rx1} contains NaN or infinite values")
        # Halved: the spread of values near the dtype's limits (±1.7e308) would overflow to inf.
        norm = np.clip((raw * 0.5 - self._half_low) / self._half_spread, 0.0, 1.0)
        if self.rgb:
            planes = np.moveaxis(norm[..., :3], -1, 0)
        else:
            planes = np.broadcast_to(norm.max(axis=-1), (3, *norm.shape[:2]))
        out[:, ry0 - y0 : ry1 - y0, rx0 - x0 : rx1 - x0] = planes
        return out
