"""Regenerate the screenshots in docs/images: the widget in use on the bundled samples.

Runs a real napari window; headless it needs a virtual X server:

    xvfb-run -a .venv/bin/python docs/make_screenshots.py --weights default

--weights: "default" (the shipped file), a path to a .safetensors file, or "random".
Prints the latencies the widget showed, for the docs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "images"


def _wait(widget, app, timeout=120.0):
    start = time.time()
    while widget.busy and time.time() - start < timeout:
        app.processEvents()
        time.sleep(0.01)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.01)


def _objects(image, n):
    """Centres of the n largest bright blobs (Otsu threshold), for clicking."""
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import label, regionprops

    smooth = gaussian(image.astype(float), 2)
    regions = sorted(regionprops(label(smooth > threshold_otsu(smooth))), key=lambda r: -r.area)
    return [tuple(int(v) for v in r.centroid) for r in regions[:n]]


def _save(viewer, name):
    from qtpy.QtWidgets import QApplication
    from skimage.io import imsave

    viewer.reset_view()
    for _ in range(30):
        QApplication.processEvents()
        time.sleep(0.02)
    from skimage.transform import rescale

    shot = viewer.screenshot(canvas_only=False, flash=False)[..., :3]
    if shot.shape[1] > 1400:
        shot = (rescale(shot, 1400 / shot.shape[1], channel_axis=-1, anti_aliasing=True) * 255).astype(np.uint8)
    path = OUT / name
    imsave(path, shot, check_contrast=False)
    print(f"wrote {path} ({path.stat().st_size // 1024} KB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default="default")
    args = parser.parse_args()

    import napari
    from qtpy.QtWidgets import QApplication

    from napari_inter2former._sample_data import nuclei_2d, nuclei_3d
    from napari_inter2former.session import Predictor

    def predictor():
        return Predictor(weights=None) if args.weights == "random" else Predictor(weights=args.weights)

    OUT.mkdir(parents=True, exist_ok=True)
    journals = tempfile.mkdtemp()

    # --- 2-D: committed nuclei, and one object in progress with a negative click
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    viewer.window._qt_window.resize(1300, 820)
    image = nuclei_2d()[0][0]
    viewer.add_image(image, name="nuclei 2-D (DSB2018)")
    _, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.set_predictor(predictor())
    widget.journal_dir = journals
    prompts = widget._prompts
    centres = _objects(image, 6)
    latencies = []
    for y, x in centres[:5]:
        prompts.add([y, x])
        _wait(widget, app)
        latencies.append(widget.last_latency_s)
        widget.commit()
    y, x = centres[5]
    prompts.add([y, x])
    _wait(widget, app)
    latencies.append(widget.last_latency_s)
    widget.set_polarity(False)
    prompts.add([y + 12, x + 12])
    _wait(widget, app)
    latencies.append(widget.last_latency_s)
    widget.set_polarity(True)
    print("2-D latencies (s):", [round(v, 3) for v in latencies], "| label:", widget.latency_label.text())
    _save(viewer, "widget_2d.png")
    viewer.close()

    # --- 3-D: one nucleus committed on a slice and carried through the stack
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1300, 820)
    volume = nuclei_3d()[0][0]
    viewer.add_image(volume, name="nuclei 3-D (synthetic)")
    _, widget = viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    widget.set_predictor(predictor())
    widget.journal_dir = journals
    z = volume.shape[0] // 2
    viewer.dims.set_current_step(0, z)
    for y, x in _objects(volume[z], 3):
        widget._prompts.add([z, y, x])
        _wait(widget, app)
        widget.carry_through(6)
        _wait(widget, app)
        viewer.dims.set_current_step(0, z)
    viewer.dims.set_current_step(0, z + 3)
    print("3-D:", widget.status_label.text(), "|", widget.latency_label.text())
    _save(viewer, "widget_3d_carry.png")
    viewer.close()


if __name__ == "__main__":
    main()
