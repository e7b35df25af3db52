"""Quick validation during training: simulated clicking on a fixed val subset.

A small, deterministic version of the evaluation protocol (same click rule,
same predictor), cheap enough to run every few thousand steps.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..session import Predictor
from .click_simulation import next_click
from .dataset import LabelledImage


def pick_objects(images: list[LabelledImage], per_image: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    for im in images:
        chosen = rng.choice(len(im.objects), size=min(per_image, len(im.objects)), replace=False)
        for index in sorted(chosen):
            yield im, im.objects[index][0]


def click_ious(predictor: Predictor, gt: np.ndarray, max_clicks: int) -> list[float]:
    session = predictor.new_session()
    pred = np.zeros_like(gt)
    ious = []
    for _ in range(max_clicks):
        click = next_click(gt, pred)
        if click is None:
            ious.append(1.0)
            continue
        pred = session.add_click(*click).to_full(gt.shape)
        ious.append(float((pred & gt).sum() / max(1, (pred | gt).sum())))
    return ious


def noc(ious: list[float], threshold: float, max_clicks: int) -> int:
    for i, v in enumerate(ious):
        if v >= threshold:
            return i + 1
    return max_clicks


def quick_validate(model, images: list[LabelledImage], raw_images: dict[str, np.ndarray], per_image: int = 3,
                   max_clicks: int = 20) -> tuple[float, dict]:
    """Returns (score = mean over subsets of NoC@90, details). Lower is better."""
    predictor = Predictor(model=model)
    per_subset = defaultdict(list)
    current = None
    for im, obj_id in pick_objects(images, per_image):
        if current != im.name:
            predictor.set_image(raw_images[im.name])
            current = im.name
        per_subset[im.subset].append(click_ious(predictor, im.labels == obj_id, max_clicks))
    info = {}
    for subset, runs in per_subset.items():
        arr = np.array(runs)
        info[subset] = {
            "objects": len(runs),
            "noc90": float(np.mean([noc(r, 0.90, max_clicks) for r in runs])),
            "noc85": float(np.mean([noc(r, 0.85, max_clicks) for r in runs])),
            "miou1": float(arr[:, 0].mean()),
            "miou5": float(arr[:, 4].mean()) if arr.shape[1] >= 5 else float("nan"),
        }
    score = float(np.mean([v["noc90"] for v in info.values()]))
    return score, info
