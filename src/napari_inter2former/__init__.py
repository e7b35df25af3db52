"""napari-inter2former: click-based interactive segmentation for microscopy, fast on CPUs."""

__version__ = "0.1.0"
