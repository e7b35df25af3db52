"""Click-simulation evaluation (NoC, NoF, mIoU, latency) of Inter2Former and baselines.

    from napari_inter2former.evaluation import evaluate, write_reports
    results = evaluate("../shared/data/val", ["inter2former", "random_walker", "watershed"])
    write_reports(results, "runs/eval-val")

`evaluate_predictor` is the quick version for periodic validation during training.
"""

from .clicker import SimClick, first_click, next_click
from .data import DataError
from .evaluate import evaluate
from .methods import METHOD_NAMES, Method, make_method
from .metrics import accuracy_summary, clicks_to_reach, iou
from .report import markdown_table, write_reports
from .targets import pick_targets
from .validation import evaluate_predictor

__all__ = [
    "DataError", "METHOD_NAMES", "Method", "SimClick", "accuracy_summary", "clicks_to_reach", "evaluate",
    "evaluate_predictor", "first_click", "iou", "make_method", "markdown_table", "next_click", "pick_targets",
    "write_reports",
]
