"""Sample data shipped with the plugin, so the widget can be tried offline (see sample_data/ATTRIBUTION.md)."""

from __future__ import annotations

from importlib import resources


def _read(name: str):
    import tifffile

    with resources.as_file(resources.files("napari_inter2former") / "sample_data" / name) as path:
        return tifffile.imread(path)


def nuclei_2d():
    """A 360x360 fluorescence image of nuclei (DSB2018 / BBBC038, CC0)."""
    return [(_read("nuclei_2d_dsb.tif"), {"name": "nuclei 2-D (DSB2018)"}, "image")]


def nuclei_3d():
    """A 24x128x128 synthetic stack of nuclei (StarDist demo3D, BSD-3)."""
    return [(_read("nuclei_3d_synthetic.tif"), {"name": "nuclei 3-D (synthetic)"}, "image")]
