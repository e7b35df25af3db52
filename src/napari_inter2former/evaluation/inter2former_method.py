"""The package's own predictor, wrapped as an evaluation method."""

from __future__ import annotations

import numpy as np

from .methods import Method


class Inter2FormerMethod(Method):
    """Adapter over `napari_inter2former.session.Predictor`.

    Encoding is lazy in the predictor (tiles are encoded when a click needs them),
    so set_image() returns 0 and the encoder time shows up in `last_encode_s` of
    the click that triggered it.
    """

    name = "inter2former"

    def __init__(self, predictor=None, weights="default", threads: int | None = None):
        if predictor is None:
            from ..session import Predictor

            predictor = Predictor(weights=weights, threads=threads)
        self.predictor = predictor
        self.weights = "random-init" if weights is None else str(weights)
        self._session = None
        self._shape = None

    def set_image(self, image):
        self.predictor.set_image(np.asarray(image))
        self._shape = tuple(image.shape[:2])
        self._session = None
        return 0.0

    def start_object(self):
        self._session = self.predictor.new_session()

    def _full(self, result) -> np.ndarray:
        self.last_encode_s = float(result.encode_s)
        return result.to_full(self._shape)

    def click(self, y, x, positive):
        if self._session is None:
            self.start_object()
        return self._full(self._session.add_click(int(y), int(x), bool(positive)))

    def start_from_mask(self, mask):
        self._session = self.predictor.new_session()
        self._session.start_from_mask(np.asarray(mask, dtype=bool), offset=(0, 0))

    def predict(self):
        return self._full(self._session.predict())

    def encoder_seconds(self) -> float:
        """Cumulative encoder time of the current image (from the predictor's cache)."""
        return float(self.predictor.cache.encode_seconds)

    def describe(self):
        cfg = self.predictor.model.config
        return {"weights": self.weights, "token_stride": getattr(cfg, "token_stride", None),
                "click_radius": getattr(cfg, "click_radius", None),
                "tile_size": self.predictor.tile_size, "halo": self.predictor.halo,
                "max_zoom": self.predictor.window_policy.max_zoom, "shrink": self.predictor.window_policy.shrink}
