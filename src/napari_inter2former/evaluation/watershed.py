"""Marker-watershed baseline on the Sobel gradient, seeded by the clicks.

The gradient is computed once per image on the Gaussian-smoothed normalised image
(colour: the maximum over channels), so windows never see edge artefacts.
Parameters were chosen on four val images (see docs/benchmarks.md): sigma 0.5
beat 0, 1 and 2 on NoC@90; compactness > 0 (compact watershed) made it worse;
windows pad the clicked extent by at least 40 px (12 and 24 px lost mIoU@5 on the
large Usiigaci cells, whose first click sees only a small window). Window logic:
classical.py.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import sobel
from skimage.segmentation import watershed

from .classical import FG, SeededWindowMethod


class WatershedMethod(SeededWindowMethod):
    name = "watershed"

    def __init__(self, sigma: float = 0.5, compactness: float = 0.0, min_pad: int = 40, **window_options):
        super().__init__(min_pad=min_pad, **window_options)
        self.sigma, self.compactness = sigma, compactness

    def _prepare(self, image):
        grads = []
        for c in range(image.shape[-1]):
            plane = ndi.gaussian_filter(image[..., c], self.sigma) if self.sigma > 0 else image[..., c]
            grads.append(sobel(plane))
        self._gradient = np.max(grads, axis=0).astype(np.float32)

    def _segment(self, window, markers):
        y0, y1, x0, x1 = window
        labels = watershed(self._gradient[y0:y1, x0:x1], markers, compactness=self.compactness)
        return labels == FG

    def describe(self):
        return {**super().describe(), "sigma": self.sigma, "compactness": self.compactness}
