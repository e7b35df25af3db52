"""Accuracy and speed numbers from per-object IoU trajectories.

A trajectory is the IoU after click 1, 2, ..., max_clicks. NoC@t is the first
(1-based) click reaching t, or max_clicks when none does; NoF@t counts objects
that never reach t; mIoU@k averages the IoU after k clicks.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NOC_THRESHOLDS = (0.85, 0.90, 0.95)
NOF_THRESHOLDS = (0.90, 0.95)


def iou(gt: np.ndarray, pred: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.count_nonzero(gt | pred)
    if union == 0:
        return 1.0
    return np.count_nonzero(gt & pred) / union


def clicks_to_reach(ious: Sequence[float], threshold: float, max_clicks: int) -> int:
    """NoC of one object: first click index (1-based) with IoU >= threshold, else max_clicks."""
    for k, value in enumerate(ious[:max_clicks], start=1):
        if value >= threshold:
            return k
    return max_clicks


def pad_trajectory(ious: Sequence[float], max_clicks: int) -> list[float]:
    """Extend a trajectory that stopped early (no error left, or a stop IoU) with its last value."""
    ious = [float(v) for v in ious[:max_clicks]]
    if not ious:
        raise ValueError("an object needs at least one click")
    return ious + [ious[-1]] * (max_clicks - len(ious))


def accuracy_summary(trajectories: Sequence[Sequence[float]], max_clicks: int) -> dict:
    """NoC@85/90/95, NoF@90/95 and mIoU@1..max_clicks of a group of objects."""
    n = len(trajectories)
    out: dict = {"objects": n}
    if n == 0:
        for t in NOC_THRESHOLDS:
            out[f"noc{round(t * 100)}"] = None
        for t in NOF_THRESHOLDS:
            out[f"nof{round(t * 100)}"] = 0
        out["miou"] = [None] * max_clicks
        return out
    table = np.array([pad_trajectory(t, max_clicks) for t in trajectories])
    for t in NOC_THRESHOLDS:
        out[f"noc{round(t * 100)}"] = float(np.mean([clicks_to_reach(row, t, max_clicks) for row in table]))
    for t in NOF_THRESHOLDS:
        out[f"nof{round(t * 100)}"] = int(np.sum(~(table >= t).any(axis=1)))
    out["miou"] = [float(v) for v in table.mean(axis=0)]
    return out


def speed_summary(click_latencies_s: Sequence[float], encode_s_per_image: Sequence[float]) -> dict:
    """Per-click latency p50/p95 (ms, encoder time excluded) and encoder seconds per image."""
    lat = np.asarray(click_latencies_s, dtype=float)
    enc = np.asarray(encode_s_per_image, dtype=float)
    return {
        "clicks": int(lat.size),
        "latency_p50_ms": float(np.percentile(lat, 50) * 1000) if lat.size else None,
        "latency_p95_ms": float(np.percentile(lat, 95) * 1000) if lat.size else None,
        "encode_s_mean": float(enc.mean()) if enc.size else None,
        "encode_s_total": float(enc.sum()),
    }
