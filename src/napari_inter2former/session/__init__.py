"""Session layer: numpy in, numpy out. Reference maps, tiling, windows, caching."""

from .clicks import Click, MaskResult
from .errors import ClickError, ImageError
from .image_source import ImageSource
from .object_session import ObjectSession
from .predictor import Predictor, default_weights_path
from .window import WindowPolicy

__all__ = [
    "Click", "ClickError", "ImageError", "ImageSource", "MaskResult", "ObjectSession",
    "Predictor", "WindowPolicy", "default_weights_path",
]
