"""`napari-inter2former demo`: napari with the widget docked, on the bundled sample image."""

from __future__ import annotations

import argparse
import importlib.util
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", choices=["nuclei-2d", "nuclei-3d"], default="nuclei-2d",
                        help="bundled sample to open: a 2-D nuclei image or a 3-D stack (default: %(default)s)")
    parser.add_argument("--screenshot", default=None, help="save a screenshot to this PNG and quit")


QT_BINDINGS = ("PyQt6", "PyQt5", "PySide6", "PySide2")


def qt_binding_missing() -> str | None:
    """A one-line hint when no Qt binding is installed (napari needs one to open a window)."""
    if any(importlib.util.find_spec(name) is not None for name in QT_BINDINGS):
        return None
    return 'no Qt binding is installed: install one with  pip install "napari[pyqt6]"'


def run(args) -> int:
    missing = qt_binding_missing()
    if missing:
        print(f"napari-inter2former demo: error: {missing}", file=sys.stderr)
        return 2
    import napari

    viewer = napari.Viewer(title="napari-inter2former demo")
    viewer.open_sample("napari-inter2former", args.sample)
    viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()  # lay the dock out first: the canvas shrinks to make room for it
    viewer.reset_view()  # then fit the image to the canvas that is left
    if args.screenshot:
        viewer.screenshot(args.screenshot, canvas_only=False, flash=False)
        viewer.close()
        return 0
    napari.run()
    return 0
