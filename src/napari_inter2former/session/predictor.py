"""The predictor: one model, one current image, tiled feature cache, object sessions.

    predictor = Predictor()                 # shipped weights; Predictor(weights=None) = random init
    predictor.set_image(image)              # 2-D grey/RGB/multi-channel, numpy or dask/zarr
    session = predictor.new_session()
    result = session.add_click(120, 85)     # MaskResult: window mask + offset
    result = session.add_click(140, 90, positive=False)

numpy in, numpy out; no napari here.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from importlib import resources
from pathlib import Path

import numpy as np
import torch

from ..model import Inter2Former, Inter2FormerConfig, load_model
from .errors import ClickError, ImageError
from .feature_cache import TiledFeatureCache
from .image_source import ImageSource, checked_range
from .object_session import ObjectSession
from .window import Box, WindowPolicy

DEFAULT_WEIGHTS_NAME = "inter2former_micro.safetensors"


def default_weights_path() -> Path:
    """The weights file shipped inside the package."""
    return Path(str(resources.files("napari_inter2former") / "weights" / DEFAULT_WEIGHTS_NAME))


class Predictor:
    """Holds the model and the features of the current image.

    weights: "default" (the shipped file), a path, or None for a randomly
    initialised model (tests, smoke runs). threads: torch intra-op threads
    (None leaves torch's setting alone). Up to `max_images` images keyed by
    `set_image(..., key=)` keep their tile caches (slices of a volume visited
    back and forth), sharing the `cache_bytes` budget: the current one may use all that the
    others do not hold (see `_share_budget`).
    """

    def __init__(self, weights: str | os.PathLike | None = "default", model: Inter2Former | None = None,
                 tile_size: int = 512, halo: int = 64, cache_bytes: int = 768 * 2**20,
                 window_policy: WindowPolicy | None = None, threads: int | None = None, seed: int = 0,
                 max_images: int = 4):
        for name, value, least in (("threads", threads, 1), ("tile_size", tile_size, 1), ("halo", halo, 0)):
            # Checked now: torch, or the first click's tiling, would fail (or go wrong) later.
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                                      or value < least):
                raise ValueError(f"{name} must be a whole number of at least {least}, got {value!r}")
        if threads is not None:
            torch.set_num_threads(int(threads))
        if model is None:
            if weights is None:
                torch.manual_seed(seed)
                model = Inter2Former(Inter2FormerConfig())
                self.weights_description = f"random init (seed {seed})"
            else:
                if weights == "random":
                    raise ValueError("weights='random' is the command line's word: pass weights=None for a "
                                     "randomly initialised model")
                path = default_weights_path() if weights == "default" else Path(weights)
                model = load_model(path)
                self.weights_description = str(path)
        else:
            self.weights_description = "injected model"
        self.model = model.eval()
        self.max_images = max(1, int(max_images))
        self._images: OrderedDict = OrderedDict()  # key -> (source, cache), most recent last
        self.tile_size, self.halo, self.cache_bytes = tile_size, halo, cache_bytes
        self.window_policy = window_policy or WindowPolicy(stride=model.config.token_stride)
        self._source: ImageSource | None = None
        self._cache: TiledFeatureCache | None = None
        self.image_key = None
        # One decode at a time: the widget's worker and a replay must not interleave.
        self.lock = threading.RLock()

    # ----- image
    def set_image(self, image, channel_axis: int | None = None, key=None,
                  intensity_range: tuple[float, float] | None = None) -> None:
        """Make `image` current. Cheap: only intensity statistics are computed now;
        tiles are encoded when a click needs them. Passing the same `key` again keeps the cache.
        `intensity_range` (low, high) replaces the percentile scaling (e.g. a viewer's contrast
        limits); the same key with another range is another image."""
        if intensity_range is not None:
            intensity_range = checked_range(intensity_range)
            key = None if key is None else (key, intensity_range)
        with self.lock:
            if key is not None and key in self._images:
                self._check_same_shape(key, image)
            if key is not None and key == self.image_key and self._source is not None:
                return
            if key is not None and key in self._images:
                self._images.move_to_end(key)
                self._source, self._cache = self._images[key]
                self.image_key = key
                self._share_budget()
                return
            source = ImageSource(image, channel_axis=channel_axis, intensity_range=intensity_range)
            self._source = source
            self._cache = TiledFeatureCache(self.model, source, self.tile_size, self.halo, self.cache_bytes)
            self.image_key = key
            if key is None:
                self._images.clear()
            else:
                self._images[key] = (source, self._cache)
                while len(self._images) > self.max_images:
                    self._images.popitem(last=False)
                self._share_budget()

    def _check_same_shape(self, key, image) -> None:
        """ImageError if `key` was given before to an image of another shape: its cached image
        would stand in for this one."""
        shape = tuple(image.shape) if hasattr(image, "shape") else np.shape(image)
        kept = tuple(self._images[key][0].array.shape)
        if shape != kept:
            raise ImageError(f"key {key!r} belongs to an image of shape {kept}, not {shape}: "
                             "give each image its own key")

    def _share_budget(self) -> None:
        """The current image may use what the other kept images do not hold; they give up tiles,
        the least recently used image first, until at least half of `cache_bytes` is free for it.
        (A fixed quarter each made a large image re-encode tiles it had already visited.)"""
        others = [cache for _, cache in self._images.values() if cache is not self._cache]
        held = sum(cache.cached_bytes for cache in others)
        allowed = self.cache_bytes - self.cache_bytes // 2
        for cache in others:
            if held <= allowed:
                break
            before = cache.cached_bytes
            cache.trim(max(0, before - (held - allowed)))
            held -= before - cache.cached_bytes
        self._cache.max_bytes = self.cache_bytes - held
        self._cache.trim(self._cache.max_bytes)

    @property
    def has_image(self) -> bool:
        return self._source is not None

    @property
    def source(self) -> ImageSource:
        if self._source is None:
            raise ClickError("no image set: call set_image() first")
        return self._source

    @property
    def cache(self) -> TiledFeatureCache:
        if self._cache is None:
            raise ClickError("no image set: call set_image() first")
        return self._cache

    @property
    def image_shape(self) -> tuple[int, int]:
        return self.source.shape

    def new_session(self) -> ObjectSession:
        self.source  # raises a clear error when no image is set
        return ObjectSession(self)

    # ----- decoding
    def decode_window(self, window: Box, ref: torch.Tensor, progress=None, views: bool = True) -> np.ndarray:
        """Binary prediction (`decode_window_logits` > 0) for reference map `ref` of `window`."""
        return (self.decode_window_logits(window, ref, progress, views) > 0).numpy()

    def decode_window_logits(self, window: Box, ref: torch.Tensor, progress=None, views: bool = True,
                             plain: torch.Tensor | None = None) -> torch.Tensor:
        """Mask logits for reference map `ref` of `window`, on ref's grid: the window's
        own pixels (features from the tile cache), or a magnified grid (a small object's
        window, see WindowPolicy.decode_size; encoded on its own and kept for later clicks).
        A native window reaching past the image border is encoded on its own too, with zeros
        there as in training, instead of encoding whole tiles of nothing past the border.
        `views`: also average the window policy's flipped views (WindowPolicy.flip_views).
        `plain`: this window's one-view logits for this same `ref`, already decoded (a first
        click's window-choosing decode): taken as they are instead of decoded again."""
        with self.lock, torch.inference_mode():
            size = tuple(ref.shape[-2:])
            hp, wp = self.window_policy.padded_extent(*self.image_shape)
            inside = window[0] >= 0 and window[2] >= 0 and window[1] <= hp and window[3] <= wp
            ref = ref[None].long()
            if plain is not None:
                logits = plain
            else:
                if size == (window[1] - window[0], window[3] - window[2]) and inside:
                    feats = self.cache.window(*window, progress=progress)
                else:
                    feats = self.cache.magnified(*window, size, progress=progress)
                logits = self.model.decode(feats, ref, fast=True).logits[0, 0]
            flips = self.window_policy.flip_views(size) if views else []
            for flip in flips:
                view = self.cache.magnified(*window, size, progress=progress, flip=flip)
                logits = logits + self.model.decode(view, ref.flip(flip), fast=True).logits[0, 0].flip(flip)
            return logits / (1 + len(flips))

    def segment(self, clicks, image=None) -> np.ndarray:
        """Convenience: full-size bool mask from a list of (y, x, positive) on a small image."""
        if image is not None:
            self.set_image(image)
        session = self.new_session()
        result = None
        for y, x, positive in clicks:
            result = session.add_click(y, x, positive)
        if result is None:
            return np.zeros(self.image_shape, dtype=bool)
        return result.to_full(self.image_shape)
