"""Driving one method through one object with simulated clicks.

`run_object`: the 2-D protocol, up to `max_clicks` clicks from an empty mask.
`run_carry`: an object through a volume, starting on one slice with clicks, then on
each neighbouring slice seeded with the previous slice's prediction and clicked only
while the IoU is below the target.

Latency is the wall time of each call minus the encoder time spent inside it
(reported separately), so it is what a user waits for after the image is encoded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .clicker import next_click
from .methods import Method
from .metrics import iou


@dataclass
class Trajectory:
    """Clicks of one object on one image/slice and the IoU after each step."""

    clicks: list[tuple[int, int, bool]] = field(default_factory=list)
    ious: list[float] = field(default_factory=list)
    latency_s: list[float] = field(default_factory=list)
    encode_s: float = 0.0
    seeded_iou: float | None = None  # IoU of a carried mask before any click (carry runs)
    pred: np.ndarray | None = None  # the last prediction (not serialised)

    def to_json(self) -> dict:
        out = {"clicks": [[int(y), int(x), bool(p)] for y, x, p in self.clicks],
               "ious": [float(v) for v in self.ious],  # unrounded: NoC compares them with thresholds
               "latency_ms": [round(v * 1000, 3) for v in self.latency_s]}
        if self.seeded_iou is not None:
            out["seeded_iou"] = round(self.seeded_iou, 6)
        return out


def _timed(method: Method, call, *args) -> tuple[np.ndarray, float, float]:
    method.last_encode_s = 0.0
    start = time.perf_counter()
    mask = np.asarray(call(*args), dtype=bool)
    wall = time.perf_counter() - start
    encode = float(method.last_encode_s)
    return mask, max(0.0, wall - encode), encode


def _click_until(method: Method, gt: np.ndarray, pred: np.ndarray, traj: Trajectory, max_clicks: int,
                 stop_iou: float | None, min_clicks: int) -> Trajectory:
    while len(traj.clicks) < max_clicks:
        click = next_click(gt, pred, traj.clicks)
        if click is None:  # no unclicked pixel is in error: nothing left to click
            break
        pred, latency, encode = _timed(method, method.click, click.y, click.x, click.positive)
        if pred.shape != gt.shape:
            raise ValueError(f"method {method.name} returned shape {pred.shape}, expected {gt.shape}")
        traj.clicks.append((click.y, click.x, click.positive))
        traj.ious.append(iou(gt, pred))
        traj.latency_s.append(latency)
        traj.encode_s += encode
        if stop_iou is not None and traj.ious[-1] >= stop_iou and len(traj.clicks) >= min_clicks:
            break
    traj.pred = pred
    return traj


def run_object(method: Method, gt: np.ndarray, max_clicks: int = 20, stop_iou: float | None = None,
               min_clicks: int = 1) -> Trajectory:
    """Evaluate one object on the method's current image; `stop_iou` ends early once reached
    (after at least `min_clicks` clicks), for quick periodic validation."""
    gt = np.asarray(gt, dtype=bool)
    if not gt.any():
        raise ValueError("the target object is empty")
    method.start_object()
    method.set_target(gt)
    return _click_until(method, gt, np.zeros_like(gt), Trajectory(), max_clicks, stop_iou, min_clicks)


@dataclass
class CarrySlice:
    z: int
    carried: bool  # seeded from the neighbouring slice's mask
    trajectory: Trajectory
    encode_s: float

    @property
    def final_iou(self) -> float:
        t = self.trajectory
        return t.ious[-1] if t.ious else float(t.seeded_iou or 0.0)

    def to_json(self) -> dict:
        return {"z": self.z, "carried": self.carried, "n_clicks": len(self.trajectory.clicks),
                "iou": round(self.final_iou, 6), "encode_s": round(self.encode_s, 6), **self.trajectory.to_json()}


def _slice_step(method: Method, image2d: np.ndarray, gt: np.ndarray, seed: np.ndarray | None,
                target_iou: float, max_clicks: int) -> CarrySlice:
    encode = float(method.set_image(image2d))
    traj = Trajectory()
    carried = seed is not None and bool(seed.any())
    if carried:
        method.start_from_mask(seed)
        method.set_target(gt)
        pred, latency, enc = _timed(method, method.predict)
        traj.seeded_iou = iou(gt, pred)
        traj.latency_s.append(latency)
        encode += enc
        if traj.seeded_iou >= target_iou:
            traj.pred = pred
            return CarrySlice(-1, True, traj, encode)
    else:
        method.start_object()
        method.set_target(gt)
        pred = np.zeros_like(gt)
    _click_until(method, gt, pred, traj, max_clicks, target_iou, 1)
    return CarrySlice(-1, carried, traj, encode + traj.encode_s)


def run_carry(method: Method, volume: np.ndarray, labels: np.ndarray, label_id: int, start_z: int,
              target_iou: float = 0.9, max_clicks: int = 20) -> list[CarrySlice]:
    """Carry object `label_id` from `start_z` up, then from `start_z` down, while it exists.

    Each slice stops clicking once IoU >= `target_iou` (or after `max_clicks`); its final
    prediction seeds the next slice. Returns the slices in z order.
    """
    out: dict[int, CarrySlice] = {}
    first = _slice_step(method, volume[start_z], labels[start_z] == label_id, None, target_iou, max_clicks)
    first.z = start_z
    out[start_z] = first
    for step in (1, -1):
        seed = first.trajectory.pred
        z = start_z + step
        while 0 <= z < labels.shape[0]:
            gt = labels[z] == label_id
            if not gt.any():
                break
            record = _slice_step(method, volume[z], gt, seed, target_iou, max_clicks)
            record.z = z
            out[z] = record
            seed = record.trajectory.pred
            z += step
    return [out[z] for z in sorted(out)]
