"""`napari-inter2former evaluate`: click-simulation evaluation of one or more methods.

Example:
    napari-inter2former evaluate ../shared/data/val --methods inter2former random_walker watershed \
        --max-per-image 5 --out runs/eval-val
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from ..cli import below_minimum
from .data import DataError
from .evaluate import VOLUME_MODES, evaluate
from .methods import METHOD_NAMES
from .report import markdown_table, write_reports


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("data", help="folder with images/ and labels/ (e.g. ../shared/data/val), or one image file in such a folder")
    parser.add_argument("--methods", nargs="+", default=["inter2former"], choices=METHOD_NAMES, metavar="METHOD",
                        help=f"methods to compare, given the same clicks ({', '.join(METHOD_NAMES)}); default inter2former")
    weights = parser.add_mutually_exclusive_group()
    weights.add_argument("--weights", default="default", help="inter2former weights file (default: the shipped weights)")
    weights.add_argument("--random-init", action="store_true", help="inter2former with a randomly initialised model (smoke runs)")
    parser.add_argument("--max-per-image", type=int, default=5, help="objects evaluated per image or slice (0 = all); default 5")
    parser.add_argument("--min-area", type=int, default=20, help="smallest object (pixels) to evaluate; default 20")
    parser.add_argument("--seed", type=int, default=0, help="seed of the object choice; default 0")
    parser.add_argument("--max-clicks", type=int, default=20, help="clicks per object; default 20")
    parser.add_argument("--limit-images", type=int, default=None, help="evaluate at most this many images (spread over subsets)")
    parser.add_argument("--volume-mode", choices=VOLUME_MODES, default="both",
                        help="volumes: independent slices, carry an object from slice to slice, or both (default)")
    parser.add_argument("--slice-step", type=int, default=8, help="volumes, slice mode: every n-th slice; default 8")
    parser.add_argument("--carry-iou", type=float, default=0.9, help="carry mode: click a slice until this IoU; default 0.9")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for inter2former (default: torch's)")
    parser.add_argument("--max-zoom", type=float, default=None,
                        help="inter2former: largest magnification of a small object's window (1 = native only; "
                             "default: the predictor's, 2)")
    parser.add_argument("--no-shrink", action="store_true",
                        help="inter2former: decode large objects' windows at native resolution instead of shrunk to 256 px")
    parser.add_argument("--out", default=None, help="output folder (default runs/evaluation/<data>-<time>)")
    parser.add_argument("--no-plot", action="store_true", help="do not draw the mIoU plot")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


# (option, smallest value): checked here so that errors name the option, not a parameter.
_MINIMA = (("max_per_image", 0), ("max_clicks", 1), ("limit_images", 1), ("slice_step", 1), ("threads", 1),
           ("min_area", 0))


def _output_problem(out: Path) -> str | None:
    """Why the results could not be written to `out`; None if they can. Nothing is made now:
    a run refused for its data leaves no empty folder behind."""
    existing = next(p for p in (out, *out.parents) if p.exists())
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"{existing} is not writable"
    return None


def run(args: argparse.Namespace) -> int:
    problem = below_minimum(args, _MINIMA)
    if problem:
        print(f"napari-inter2former evaluate: error: {problem}", file=sys.stderr)
        return 2
    if not 0.0 < args.carry_iou <= 1.0:
        print(f"napari-inter2former evaluate: error: --carry-iou must be in (0, 1], got {args.carry_iou}",
              file=sys.stderr)
        return 2
    weights = None if args.random_init else args.weights
    out = Path(args.out) if args.out else Path("runs") / "evaluation" / f"{Path(args.data).name}-{time.strftime('%Y%m%d-%H%M%S')}"
    problem = _output_problem(out)
    if problem:  # before the evaluation, which may take hours, not after it
        print(f"napari-inter2former evaluate: error: cannot write the results to {out}: {problem}", file=sys.stderr)
        return 2
    expected: tuple[type[BaseException], ...] = (DataError, ValueError, FileNotFoundError, ImportError)
    if "inter2former" in args.methods:
        # imports torch: only when the model is used
        from ..model.weights import WeightsError

        expected += (WeightsError,)
    try:
        predictor = None
        if (args.max_zoom is not None or args.no_shrink) and "inter2former" in args.methods:
            from ..session import Predictor, WindowPolicy

            max_zoom = WindowPolicy.max_zoom if args.max_zoom is None else args.max_zoom
            policy = WindowPolicy(max_zoom=max_zoom, shrink=not args.no_shrink)
            predictor = Predictor(weights=weights, threads=args.threads, window_policy=policy)
        results = evaluate(args.data, args.methods, max_per_image=args.max_per_image or None, min_area=args.min_area,
                           seed=args.seed, max_clicks=args.max_clicks, limit_images=args.limit_images,
                           volume_mode=args.volume_mode, slice_step=args.slice_step, carry_iou=args.carry_iou,
                           weights=weights, predictor=predictor, threads=args.threads, progress=not args.no_progress)
    except expected as exc:
        print(f"napari-inter2former evaluate: error: {exc}", file=sys.stderr)
        return 2
    results["config"]["command"] = " ".join(["napari-inter2former", "evaluate", *sys.argv[2:]]) if len(sys.argv) > 1 else None
    paths = write_reports(results, out, plot=not args.no_plot)
    print(markdown_table(results))
    counts = ", ".join(f"{s}: {c.get('evaluated', 0)} of {c.get('eligible', 0)} eligible objects in {c.get('images', 0)} images"
                       for s, c in results["data"]["subsets"].items())
    print(f"evaluated {counts}; {results['wall_s']:.1f} s")
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
