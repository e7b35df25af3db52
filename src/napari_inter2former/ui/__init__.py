"""napari UI: the annotation dock widget and its helpers (layers, worker, history, shortcuts).

The widget is imported on first use, so `napari-inter2former demo --help` (which imports
`ui.demo`) works where no Qt binding is installed yet.
"""

__all__ = ["Inter2FormerWidget"]


def __getattr__(name: str):
    if name == "Inter2FormerWidget":
        from .widget import Inter2FormerWidget

        return Inter2FormerWidget
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
