"""`napari-inter2former replay JOURNAL`: rebuild a segmentation from a journal, headless."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np

from .journal import JournalError, read_journal
from .replay import MODES, recorded_window_policy, replay

PREFIX = "napari-inter2former replay: "  # as every other subcommand's messages begin


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("journal", type=Path, help="journal file (*.journal.jsonl) written by the napari widget")
    parser.add_argument("-o", "--out", type=Path, default=None,
                        help="output labels file (.tif or .npy); default: JOURNAL with .replayed.tif")
    parser.add_argument("--mode", choices=MODES, default="masks",
                        help="masks: paste the stored object masks (exact, no model); "
                             "predict: re-run the model from the stored clicks (needs the image)")
    parser.add_argument("--image", type=Path, default=None,
                        help="image file (.tif or .npy) for --mode predict; default: the path in the journal")
    parser.add_argument("--weights", default="default",
                        help="weights for --mode predict: 'default', a path, or 'random' (random init)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random init for --weights random")
    parser.add_argument("--labels", type=Path, default=None,
                        help="start from these labels instead of an empty target (e.g. the segmentation "
                             "the journal was started on)")


def _load(path: Path, option: str) -> np.ndarray:
    """The array in `path`; a ValueError naming the file and `option` if it is not one."""
    try:
        if path.suffix == ".npy":
            array = np.load(path, mmap_mode="r")
        else:
            import tifffile

            array = tifffile.imread(path)
    except Exception as exc:  # numpy and tifffile raise many types for broken files
        raise ValueError(f"{option} {path}: not a readable image or labels file ({type(exc).__name__}: {exc})") from exc
    if array.size == 0:  # a truncated TIFF can read as shape (0,)
        raise ValueError(f"{option} {path}: not a readable image (corrupt or empty file)")
    return array


def _save(path: Path, labels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npy":
        np.save(path, labels)
    else:
        import tifffile

        tifffile.imwrite(path, labels, compression="zlib", compressionargs={"level": 1},
                         bigtiff=labels.nbytes > 2**31)


def run(args: argparse.Namespace) -> int:
    try:
        header, _ = read_journal(args.journal)
    except (OSError, JournalError) as exc:
        print(f"{PREFIX}error: {exc}", file=sys.stderr)
        return 2
    image = predictor = None
    if args.mode == "predict":
        image_path = args.image or (Path(header["image"]["path"]) if header.get("image", {}).get("path") else None)
        if image_path is None or not image_path.exists():
            print(f"{PREFIX}error: --mode predict needs the image: pass --image PATH", file=sys.stderr)
            return 2
        try:
            image = _load(image_path, "--image")
        except ValueError as exc:
            print(f"{PREFIX}error: {exc}", file=sys.stderr)
            return 2
        from ..session import Predictor

        try:
            policy = recorded_window_policy(header)
        except (TypeError, ValueError) as exc:
            print(f"{PREFIX}error: {args.journal}: the recorded window policy cannot be used: {exc}", file=sys.stderr)
            return 2
        if args.weights == "random":
            predictor = Predictor(weights=None, seed=args.seed, window_policy=policy)
        else:
            predictor = Predictor(weights=args.weights, window_policy=policy)
    labels = None
    if args.labels is not None:
        try:
            labels = np.array(_load(args.labels, "--labels"))
        except ValueError as exc:
            print(f"{PREFIX}error: {exc}", file=sys.stderr)
            return 2
    out = args.out or args.journal.with_name(args.journal.name.replace(".journal.jsonl", "") + ".replayed.tif")
    if out.suffix.lower() not in (".tif", ".tiff", ".npy"):
        print(f"{PREFIX}error: {out}: the output must end in .tif, .tiff or .npy", file=sys.stderr)
        return 2
    if args.mode == "masks" and args.image is not None:
        print(f"{PREFIX}warning: --image is only read with --mode predict; the stored masks are pasted",
              file=sys.stderr)
    # A live counter on a terminal; redirected to a file, "\r" would run the lines together.
    live = sys.stderr.isatty()
    progress = (lambda done, total: print(f"\rcommit {done}/{total}", end="", file=sys.stderr)) if live else None
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            labels = replay(args.journal, labels=labels, image=image, mode=args.mode, predictor=predictor,
                            progress=progress)
    except (JournalError, ValueError) as exc:
        print(f"\n{PREFIX}error: {exc}" if live else f"{PREFIX}error: {exc}", file=sys.stderr)
        return 2
    if live:
        print(file=sys.stderr)
    for warning in caught:
        print(f"{PREFIX}warning: {warning.message}", file=sys.stderr)
    _save(out, labels)
    print(f"wrote {out}: shape {labels.shape}, {_count_ids(labels)} objects")
    return 0


def _count_ids(labels: np.ndarray, block_pixels: int = 2**24) -> int:
    """Distinct non-zero ids, a block of rows at a time: np.unique over a 20000² plane would sort a
    copy of all of it for a count."""
    if labels.ndim == 0:
        return int(labels != 0)
    ids: set[int] = set()
    step = max(1, block_pixels // max(1, int(np.prod(labels.shape[1:]))))
    for start in range(0, labels.shape[0], step):
        block = labels[start : start + step]
        ids.update(np.unique(block[block != 0]).tolist())
    return len(ids)


if __name__ == "__main__":  # python -m napari_inter2former.journal.cli JOURNAL ...
    from ..cli import main

    raise SystemExit(main(["replay", *sys.argv[1:]]))
