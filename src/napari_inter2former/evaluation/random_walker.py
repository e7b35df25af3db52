"""Random-walker baseline (Grady 2006, scikit-image) seeded by the clicks.

Parameters were chosen on four val images (three DSB, one Usiigaci; see
docs/benchmarks.md): `beta` is scikit-image's edge penalty (scikit-image divides it
by 10x the window's standard deviation, so it is contrast-invariant); 2000 beat
30/130/500/8000 on mIoU@5 (NoC@90 within 0.3). A light Gaussian smoothing
(sigma 0.5) was slightly better than none.
Windows are 2x the clicked extent (context 0.5): 3x was as accurate and 4x slower.
The direct solver ("bf") is used because conjugate gradients converged slowly at
this beta on real windows (300^2: 2.2 s vs 0.55 s). Window logic: classical.py.
"""

from __future__ import annotations

from scipy import ndimage as ndi
from skimage.segmentation import random_walker

from .classical import FG, SeededWindowMethod


class RandomWalkerMethod(SeededWindowMethod):
    name = "random_walker"

    def __init__(self, beta: float = 2000.0, sigma: float = 0.5, mode: str = "bf", **window_options):
        super().__init__(**window_options)
        self.beta, self.sigma, self.mode = beta, sigma, mode

    def _prepare(self, image):
        self._smooth = ndi.gaussian_filter(image, sigma=(self.sigma, self.sigma, 0)) if self.sigma > 0 else image

    def _segment(self, window, markers):
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
