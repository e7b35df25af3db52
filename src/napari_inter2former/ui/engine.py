"""What the inference worker does: bring the predictor's object session to a requested state.

The widget never tells the worker "add this click"; every request carries the
whole desired state (object, seed, clicks). The engine reaches it the cheapest
way: nothing to do, one appended click, or a replay. Because a prompt set's
prediction does not depend on the path that led to it, requests can be
skipped (latest wins) without changing the outcome. No Qt here.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Callable, Hashable

import numpy as np
from scipy import ndimage as ndi

from ..session import Click, MaskResult


def interior_point(mask: np.ndarray, offset: tuple[int, int]) -> tuple[int, int]:
    """The mask pixel farthest from its border (image coordinates): where a carried
    object is most surely still present on the next slice."""
    distance = ndi.distance_transform_edt(np.pad(np.asarray(mask, bool), 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(distance)), distance.shape)
    return int(y + offset[0]), int(x + offset[1])


class Cancelled(Exception):
    """The job was cancelled or replaced by a newer one while it ran."""


@dataclass(frozen=True)
class ObjectSpec:
    """One object on one image plane. A new token means a new object session."""

    token: int
    plane_key: Hashable
    plane: object  # a 2-D (H, W[, C]) array-like (journal.PlaneView)
    seed: tuple[np.ndarray, tuple[int, int]] | None = None
    predict_seed: bool = False  # carried objects: predict from the seed first, then use that as the base
    intensity_range: tuple[float, float] | None = None  # the layer's contrast limits, when they normalise


@dataclass
class Job:
    generation: int
    cancel: threading.Event = field(default_factory=threading.Event, init=False, compare=False)
    supersedable: bool = True  # a newer job may interrupt this one between tiles


@dataclass
class PredictJob(Job):
    obj: ObjectSpec = None
    clicks: tuple[Click, ...] = ()


@dataclass
class CarryStep:
    plane_key: Hashable
    plane: object
    spec: object  # the widget's plane description, passed back untouched
    intensity_range: tuple[float, float] | None = None


@dataclass
class CarryRunJob(Job):
    """Carry a mask through successive planes until it vanishes or is cancelled."""

    mask: np.ndarray = None
    offset: tuple[int, int] = (0, 0)
    steps: list[CarryStep] = field(default_factory=list)
    centre_click: bool = True  # prompt = previous mask + a positive click at its interior point
    min_area: int = 10
    min_ratio: float = 0.2  # stop when the object shrinks below this fraction of the previous slice
    supersedable: bool = False


@dataclass
class CarryRunOutcome:
    done: int
    total: int
    stopped: str  # "end", "vanished" or "cancelled"


class Engine:
    """Owns the object session; runs jobs on the worker thread, one at a time."""

    def __init__(self, predictor):
        self.predictor = predictor
        self.session = None
        self.token = None
        self.key = None  # the plane the session was made on (new data: a new key, a new session)

    def _sync_object(self, obj: ObjectSpec, progress) -> MaskResult | None:
        """Make the session belong to `obj`; returns the seeded result (if any)."""
        self.predictor.set_image(obj.plane, key=obj.plane_key, intensity_range=obj.intensity_range)
        if self.token == obj.token and self.key == obj.plane_key and self.session is not None:
            return None
        self.session, self.token = self.predictor.new_session(), None
        result = None
        if obj.seed is not None:
            mask, offset = obj.seed
            self.session.start_from_mask(mask, offset)
            if obj.predict_seed:
                result = self.session.predict(progress=progress)
                if not result.empty:
                    # The carried prediction becomes the base that clicks refine and replays start from.
                    self.session.start_from_mask(result.mask, result.offset)
                    self.session.result.latency_s = result.latency_s
                    self.session.result.tiles_encoded = result.tiles_encoded
            result = self.session.result
        self.token, self.key = obj.token, obj.plane_key
        return result

    def predict(self, job: PredictJob, progress) -> MaskResult | None:
        seeded = self._sync_object(job.obj, progress)
        session = self.session
        have, want = tuple(session.clicks), tuple(job.clicks)
        if want == have:
            return session.result if seeded is None else seeded
        if len(want) == len(have) + 1 and want[:-1] == have:
            c = want[-1]
            return session.add_click(c.y, c.x, c.positive, progress=progress)
        # Anything else (a point moved, removed, re-ordered): replay from the base on a fresh
        # session, so the session's own undo history does not pile up.
        self.token = None
        self._sync_object(job.obj, progress)
        if not want:
            return self.session.result
        return self.session.set_clicks(list(want), progress=progress)

    def carry_run(self, job: CarryRunJob, progress, partial: Callable) -> CarryRunOutcome:
        """Seed each plane with the previous plane's mask and predict; `partial(i, step, result, clicks)`
        hands each plane's result to the widget as soon as it exists."""
        mask, offset = job.mask, job.offset
        total = len(job.steps)
        self.token = None  # the object session is reused for the carry; the next click rebuilds it
        for i, step in enumerate(job.steps):
            if job.cancel.is_set():
                return CarryRunOutcome(i, total, "cancelled")
            progress(i, total)
            self.predictor.set_image(step.plane, key=step.plane_key, intensity_range=step.intensity_range)
            session = self.predictor.new_session()
            session.start_from_mask(mask, offset)
            clicks = ()
            if job.centre_click:
                clicks = (Click(*interior_point(mask, offset), True),)
                result = session.add_click(clicks[0].y, clicks[0].x, True)
            else:
                result = session.predict()
            if result.empty or result.area < max(job.min_area, job.min_ratio * int(np.count_nonzero(mask))):
                return CarryRunOutcome(i, total, "vanished")
            partial(i, step, result, clicks)
            mask, offset = result.mask, result.offset
        progress(total, total)
        return CarryRunOutcome(total, total, "end")

    def run(self, job: Job, progress, partial: Callable):
        if isinstance(job, PredictJob):
            return self.predict(job, progress)
        if isinstance(job, CarryRunJob):
            return self.carry_run(job, progress, partial)
        raise TypeError(f"unknown job {type(job).__name__}")
