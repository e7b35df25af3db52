"""The widget's small shared pieces: the current object, an undo snapshot, notifications."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..journal import PlaneSpec
from ..session import MaskResult


def notify(kind: str, message: str) -> None:
    """A napari notification ("info", "warning" or "error"): how the widget talks to the user."""
    from napari.utils import notifications

    getattr(notifications, f"show_{kind}")(message)


@dataclass
class ObjectState:
    """The object being segmented."""

    token: int  # a new token means a new object session in the worker
    spec: PlaneSpec  # image plane it lives on
    seed: tuple | None = None  # (mask, offset) it started from (picked label, carried mask)
    predict_seed: bool = False  # carried without a click: predict from the seed before using it
    label_id: int | None = None  # id it will be committed with (None: a new id)
    extra_box: tuple | None = None  # region of the old label to clear on commit


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
