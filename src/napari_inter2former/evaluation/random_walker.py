"""Random-walker baseline (Grady 2006, scikit-image) seeded by the clicks.

Parameters chosen on two val images per subset (see docs/benchmarks.md): `beta`
is scikit-image's edge penalty (it divides by 10x the window's standard deviation,
so it is contrast-invariant); a light Gaussian smoothing keeps noise from trapping
the walk. The window logic lives in classical.py.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from .classical import FG, SeededWindowMethod


class RandomWalkerMethod(SeededWindowMethod):
    name = "random_walker"

    def __init__(self, beta: float = 130.0, sigma: float = 1.0, mode: str = "cg_j", **window_options):
        super().__init__(**window_options)
        self.beta, self.sigma, self.mode = beta, sigma, mode

    def _prepare(self, image):
        self._smooth = ndi.gaussian_filter(image, sigma=(self.sigma, self.sigma, 0)) if self.sigma > 0 else image

    def _segment(self, window, markers):
        from skimage.segmentation import random_walker

        if not (markers == 0).any():
            return markers == FG
        y0, y1, x0, x1 = window
        data = self._smooth[y0:y1, x0:x1]
        if data.shape[-1] == 1:
            data, channel_axis = data[..., 0], None
        else:
            channel_axis = -1
        if float(data.std()) == 0.0:  # flat window: no edges to follow; only the seeds are known
            return markers == FG
        labels = random_walker(data, markers, beta=self.beta, mode=self.mode, channel_axis=channel_axis)
        return labels == FG

    def describe(self):
        return {**super().describe(), "beta": self.beta, "sigma": self.sigma, "mode": self.mode}
