"""napari UI: the annotation dock widget and its helpers (layers, worker, history, shortcuts)."""

from .widget import Inter2FormerWidget

__all__ = ["Inter2FormerWidget"]
