"""The widget's small shared pieces: the current object, an undo snapshot, notifications."""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import numpy as np

from ..journal import PlaneSpec
from ..session import MaskResult
from .layers import PlaneError


def notify(kind: str, message: str) -> None:
    """A napari notification ("info", "warning" or "error"): how the widget talks to the user."""
    from napari.utils import notifications

    getattr(notifications, f"show_{kind}")(message)


def follow(emitter, slot, on: bool) -> None:
    """Connect `slot` to a napari event emitter, or disconnect it (quietly if it was not connected,
    or the layer is already gone)."""
    if on:
        emitter.connect(slot)
        return
    try:
        emitter.disconnect(slot)
    except (TypeError, ValueError, RuntimeError):
        pass


def guarded(method):
    """Entry points (buttons, keys, worker signals) report unexpected errors as a notification
    instead of letting them reach Qt, which may abort the application and lose work."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except PlaneError as exc:  # the plane on screen cannot be used (3-D view, outside the layer)
            notify("warning", str(exc))
            return None
        except Exception as exc:
            logging.getLogger(__name__).exception("%s failed", method.__name__)
            notify("error", f"{method.__name__.strip('_').replace('_', ' ')} failed: {type(exc).__name__}: {exc}. "
                            "Committed objects are safe in the target layer and the journal.")
            return None

    return wrapper


@dataclass
class ObjectState:
    """The object being segmented."""

    token: int  # a new token means a new object session in the worker
    spec: PlaneSpec  # image plane it lives on
    seed: tuple | None = None  # (mask, offset) it started from (picked label, carried mask)
    predict_seed: bool = False  # carried without a click: predict from the seed before using it
    label_id: int | None = None  # id it will be committed with (None: a new id)
    extra_box: tuple | None = None  # region of the old label to clear on commit
    centre_click: bool = False  # carried with a centre click: without any click, the mask alone prompts


@dataclass
class Snapshot:
    """Everything undo needs to put the object back: points, object, its result."""

    coords: np.ndarray
    positive: np.ndarray
    obj: ObjectState | None
    result: MaskResult | None

    @classmethod
    def empty(cls, ndim: int) -> "Snapshot":
        return cls(np.zeros((0, ndim)), np.zeros(0, bool), None, None)
