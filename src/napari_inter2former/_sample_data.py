"""Sample data shipped with the plugin, so the widget can be tried offline (see sample_data/ATTRIBUTION.md)."""

from __future__ import annotations

from importlib import resources


def _read(name: str):
    import tifffile

    with resources.as_file(resources.files("napari_inter2former") / "sample_data" / name) as path:
        return tifffile.imread(path)


def _shown_range(image) -> list[float]:
    """Contrast limits that show the nuclei (napari's default, the dtype's full range, leaves
    the 8-bit sample nearly black)."""
    import numpy as np

    low, high = np.percentile(image, (0.5, 99.8))
    return [float(low), float(max(high, low + 1))]


def nuclei_2d():
    """A 360x360 fluorescence image of nuclei (DSB2018 / BBBC038, CC0)."""
    image = _read("nuclei_2d_dsb.tif")
    return [(image, {"name": "nuclei 2-D (DSB2018)", "contrast_limits": _shown_range(image)}, "image")]


def nuclei_3d():
    """A 24x128x128 synthetic stack of nuclei (StarDist demo3D, BSD-3)."""
    image = _read("nuclei_3d_synthetic.tif")
    return [(image, {"name": "nuclei 3-D (synthetic)", "contrast_limits": _shown_range(image)}, "image")]
