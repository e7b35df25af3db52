"""Lazy, tiled image encoding with a bounded LRU cache.

The image is cut into square tiles on a fixed grid. A tile is encoded only when
a window needs it, with a halo of context on every side (zeros beyond the image),
and only its centre is kept. Because tile origins and halo are multiples of the
encoder's deepest stride, stitched features match encoding the whole image
(with the same zero context) except for the halo's truncation of the receptive
field; tests/test_tiling.py measures that difference.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Callable

import torch

from ..model import ImageFeatures, Inter2Former
from .image_source import ImageSource

ProgressCallback = Callable[[int, int], None]


class TiledFeatureCache:
    """Tile features of one image, plus the few magnified windows small objects are decoded on."""

    MAGNIFIED_KEPT = 16  # up to four views of two windows per object being edited; each ~1 MB at 256 px

    def __init__(self, model: Inter2Former, source: ImageSource, tile_size: int = 512, halo: int = 64,
                 max_bytes: int = 768 * 2**20):
        align = model.alignment
        if tile_size % align or halo % align:
            raise ValueError(f"tile_size and halo must be multiples of {align}")
        self.model = model
        self.source = source
        self.tile = tile_size
        self.halo = halo
        self.max_bytes = max_bytes
        self.stride = model.config.token_stride
        self._tiles: OrderedDict[tuple[int, int], tuple[torch.Tensor, ...]] = OrderedDict()
        self._bytes = 0
        self._magnified: OrderedDict[tuple, ImageFeatures] = OrderedDict()
        self.tiles_encoded = 0
        self.encode_seconds = 0.0

    @property
    def cached_bytes(self) -> int:
        return self._bytes

    def _encode(self, image: torch.Tensor) -> ImageFeatures:
        start = time.perf_counter()
        with torch.inference_mode():
            feats = self.model.encode(image)
        self.encode_seconds += time.perf_counter() - start
        return feats

    def _encode_tile(self, ty: int, tx: int) -> tuple[torch.Tensor, ...]:
        t, h = self.tile, self.halo
        y0, x0 = ty * t - h, tx * t - h
        image = torch.from_numpy(self.source.read(y0, y0 + t + 2 * h, x0, x0 + t + 2 * h))[None]
        feats = self._encode(image)
        self.tiles_encoded += 1
        return tuple(part[0] for part in _cut(feats, h, h, t, t, self.stride))

    def _get_tile(self, key: tuple[int, int]) -> tuple[torch.Tensor, ...]:
        if key in self._tiles:
            self._tiles.move_to_end(key)
            return self._tiles[key]
        parts = self._encode_tile(*key)
        self._tiles[key] = parts
        self._bytes += _nbytes(parts)
        self.trim(self.max_bytes, keep=1)  # the tile just encoded stays, whatever the budget
        return parts

    def trim(self, max_bytes: int, keep: int = 0) -> None:
        """Drop least recently used tiles until at most `max_bytes` are held (or `keep` tiles are left)."""
        while self._bytes > max_bytes and len(self._tiles) > keep:
            _, old = self._tiles.popitem(last=False)
            self._bytes -= _nbytes(old)

    def tiles_for(self, y0: int, y1: int, x0: int, x1: int) -> list[tuple[int, int]]:
        t = self.tile
        return [(ty, tx) for ty in range(y0 // t, (y1 - 1) // t + 1) for tx in range(x0 // t, (x1 - 1) // t + 1)]

    def missing_tiles(self, y0: int, y1: int, x0: int, x1: int) -> int:
        return sum(key not in self._tiles for key in self.tiles_for(y0, y1, x0, x1))

    def window(self, y0: int, y1: int, x0: int, x1: int, progress: ProgressCallback | None = None) -> ImageFeatures:
        """Features of the window [y0, y1) x [x0, x1); bounds must be multiples of the token stride."""
        s, t = self.stride, self.tile
        if any(v % s for v in (y0, y1, x0, x1)):
            raise ValueError(f"window bounds must be multiples of {s}")
        keys = self.tiles_for(y0, y1, x0, x1)
        # Encode the missing tiles first so progress reports real work. Hold every tile of
        # this window here: with a small budget the LRU may evict one before stitching, and
        # fetching it again would encode it twice.
        missing = [k for k in keys if k not in self._tiles]
        held = {}
        for done, key in enumerate(missing, 1):
            held[key] = self._get_tile(key)
            if progress is not None:
                progress(done, len(missing))
        dims = [self.model.config.dim, *self.model.config.edge_channels]
        factors = [s, 1, 2, 4]
        # tokens, e1, e2, e4 and their strides
        outs = [torch.zeros(c, (y1 - y0) // f, (x1 - x0) // f) for c, f in zip(dims, factors)]
        for key in keys:
            parts = held[key] if key in held else self._get_tile(key)
            ty, tx = key
            ay0, ay1 = max(y0, ty * t), min(y1, (ty + 1) * t)
            ax0, ax1 = max(x0, tx * t), min(x1, (tx + 1) * t)
            for i, f in enumerate(factors):
                outs[i][:, (ay0 - y0) // f : (ay1 - y0) // f, (ax0 - x0) // f : (ax1 - x0) // f] = parts[i][
                    :, (ay0 - ty * t) // f : (ay1 - ty * t) // f, (ax0 - tx * t) // f : (ax1 - tx * t) // f
                ]
        tokens, e1, e2, e4 = outs
        return ImageFeatures(tokens[None], (e1[None], e2[None], e4[None]))

    def magnified(self, y0: int, y1: int, x0: int, x1: int, size: tuple[int, int],
                  progress: ProgressCallback | None = None, flip: tuple[int, ...] = ()) -> ImageFeatures:
        """Features of the window [y0, y1) x [x0, x1) resampled (bilinear) to `size`, a multiple
        of the token stride. Encoded on its own, zero-padded up to the encoder's alignment;
        the last few are kept, so later clicks in the same window only decode. `flip`: of the
        window flipped along these dims (-1 left to right, -2 top to bottom), another view to
        average predictions over."""
        flip = tuple(sorted(flip))
        if any(d not in (-2, -1) for d in flip):
            raise ValueError(f"flip dims must be -2 and/or -1, got {flip}")
        key = (y0, y1, x0, x1, tuple(size), flip)
        if key in self._magnified:
            self._magnified.move_to_end(key)
            return self._magnified[key]
        zh, zw = size
        s, a = self.stride, self.model.alignment
        if zh % s or zw % s:
            raise ValueError(f"a magnified size must be a multiple of {s}, got {size}")
        region = torch.from_numpy(self.source.read(y0, y1, x0, x1))[None]
        shrink = zh < y1 - y0 or zw < x1 - x0
        image = torch.nn.functional.interpolate(region, size=(zh, zw), mode="bilinear", align_corners=False,
                                                antialias=shrink)
        padded = torch.zeros(1, 3, -(-zh // a) * a, -(-zw // a) * a)
        image = image.clamp(0.0, 1.0)
        padded[:, :, :zh, :zw] = image.flip(flip) if flip else image
        feats = self._encode(padded)
        if progress is not None:
            progress(1, 1)
        tokens, e1, e2, e4 = _cut(feats, 0, 0, zh, zw, s)
        cut = ImageFeatures(tokens, (e1, e2, e4))
        self._magnified[key] = cut
        while len(self._magnified) > self.MAGNIFIED_KEPT:
            self._magnified.popitem(last=False)
        return cut


def _nbytes(parts: tuple[torch.Tensor, ...]) -> int:
    return sum(p.numel() * p.element_size() for p in parts)


def _cut(feats: ImageFeatures, top: int, left: int, height: int, width: int, stride: int) -> tuple[torch.Tensor, ...]:
    """Tokens and the three edge maps of the image region [top, top+height) x [left, left+width),
    each at its own stride (token stride, 1, 2, 4); offsets and sizes are multiples of `stride`."""
    return tuple(
        part[:, :, top // f : (top + height) // f, left // f : (left + width) // f].contiguous()
        for part, f in zip((feats.tokens, *feats.edges), (stride, 1, 2, 4))
    )


def encode_whole(model: Inter2Former, source: ImageSource, halo: int) -> ImageFeatures:
    """Reference: encode the whole image at once, with the same zero context of `halo` px."""
    s, a = model.config.token_stride, model.alignment
    hp = -(-source.height // a) * a
    wp = -(-source.width // a) * a
    image = torch.from_numpy(source.read(-halo, hp + halo, -halo, wp + halo))[None]
    with torch.inference_mode():
        feats = model.encode(image)
    tokens, e1, e2, e4 = _cut(feats, halo, halo, hp, wp, s)
    return ImageFeatures(tokens, (e1, e2, e4))
