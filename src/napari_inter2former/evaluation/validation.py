"""Quick periodic validation for the training loop.

Few objects, clicks stop once IoU >= 0.90 after at least 5 clicks: NoC@85/90, NoF@90
and mIoU@1..5 are exact; later mIoU values and NoC@95 are not reported.
"""

from __future__ import annotations

from .evaluate import evaluate
from .inter2former_method import Inter2FormerMethod


def evaluate_predictor(predictor, data_dir, max_per_image: int = 3, limit_images: int | None = 12,
                       seed: int = 0, max_clicks: int = 20, min_area: int = 20, progress: bool = False) -> dict:
    """Validate a `Predictor` (e.g. wrapping the model being trained) on a data folder.

    Returns {"overall": {...}, "subsets": {name: {...}}, "wall_s": seconds} where each group
    has objects, noc85, noc90, nof90, miou1..miou5 and latency_p50_ms.
    Put the model in eval mode first (the predictor does not switch it).
    """
    results = evaluate(data_dir, [Inter2FormerMethod(predictor=predictor)], max_per_image=max_per_image,
                       min_area=min_area, seed=seed, max_clicks=max_clicks, limit_images=limit_images,
                       volume_mode="slices", stop_iou=0.90, min_clicks=5, progress=progress)
    summary = results["methods"]["inter2former"]["summary"]

    def pick(m: dict) -> dict:
        out = {k: m[k] for k in ("objects", "noc85", "noc90", "nof90", "latency_p50_ms")}
        out.update({f"miou{k}": m["miou"][k - 1] for k in range(1, min(5, max_clicks) + 1)})
        return out

    return {"overall": pick(summary["overall"]),
            "subsets": {s: pick(m) for s, m in summary["subsets"].items()},
            "wall_s": results["wall_s"]}
