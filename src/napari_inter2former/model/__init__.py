"""Pure-torch Inter2Former (no napari, no numpy-side session logic)."""

from .config import Inter2FormerConfig
from .inter2former import DecoderOutput, ImageFeatures, Inter2Former
from .weights import WeightsError, load_model, save_model

__all__ = [
    "DecoderOutput", "ImageFeatures", "Inter2Former", "Inter2FormerConfig",
    "WeightsError", "load_model", "save_model",
]
