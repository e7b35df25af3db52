"""`napari-inter2former demo`: napari with the widget docked, on the bundled sample image."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sample", choices=["nuclei-2d", "nuclei-3d"], default="nuclei-2d",
                        help="bundled sample to open: a 2-D nuclei image or a 3-D stack (default: %(default)s)")
    parser.add_argument("--screenshot", default=None, help="save a screenshot to this PNG and quit")


def run(args) -> int:
    import napari

    viewer = napari.Viewer(title="napari-inter2former demo")
    viewer.open_sample("napari-inter2former", args.sample)
    viewer.window.add_plugin_dock_widget("napari-inter2former", "Interactive segmentation")
    if args.screenshot:
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()  # lay the dock out, or the screenshot shows the canvas alone
        viewer.screenshot(args.screenshot, canvas_only=False, flash=False)
        viewer.close()
        return 0
    napari.run()
    return 0
