"""Reference methods that bound the metrics: a perfect oracle and an always-empty method."""

from __future__ import annotations

import numpy as np

from .methods import Method


class OracleMethod(Method):
    """Returns the ground truth on every click: NoC 1 everywhere (checks the bookkeeping)."""

    name = "oracle"

    def set_image(self, image):
        self._shape = image.shape[:2]
        self._gt = None
        return 0.0

    def start_object(self):
        self._gt = None

    def set_target(self, gt):
        self._gt = np.asarray(gt, dtype=bool)

    def _answer(self):
        if self._gt is None:
            raise RuntimeError("the oracle needs set_target() before clicks")
        return self._gt.copy()

    def click(self, y, x, positive):
        return self._answer()

    def start_from_mask(self, mask):
        pass

    def predict(self):
        return self._answer()


class EmptyMethod(Method):
    """Never segments anything: NoC = max clicks and every object a failure."""

    name = "empty"

    def set_image(self, image):
        self._shape = image.shape[:2]
        return 0.0

    def start_object(self):
        pass

    def click(self, y, x, positive):
        return np.zeros(self._shape, dtype=bool)

    def start_from_mask(self, mask):
        pass

    def predict(self):
        return np.zeros(self._shape, dtype=bool)
