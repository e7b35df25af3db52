"""Compare weight files on the same val objects, with the noise of the sample stated.

    python scripts/paired_noc.py --weights REF.safetensors CAND.safetensors [...] \
        [--data ../shared/data/val] [--subset usiigaci] [--per-image 40] [--cache DIR]

A weights entry may carry window-policy overrides after an @, to compare inference rules on the
same objects: `default@zoom_side=384,context=1.5` (fields of `WindowPolicy`).

--exclude-per-image N leaves out the objects that a run with --per-image N scores, so a rule
picked on those can be checked on the rest (with --per-image 1000: every other object). Those
objects come from the first entry's run at --per-image N, read from the cache when it holds it;
the objects left out are still scored in the main run, as `evaluate` takes no list of objects.

Every file is scored on the same objects (the evaluation tool's pick, seed 0, 20 clicks,
clicks stop at IoU 0.90 after at least 5, as the quick validator does). Printed per subset:
NoC@90, NoF@90 and mIoU@5 of each file, and for each file after the first the paired
difference of NoC@90 (candidate minus reference, object by object) with its standard error.
On 25 Usiigaci cells the standard error of one file's NoC@90 is ~1.5 clicks, larger than the
gaps between training stages; pairing the same cells and taking more of them is what lets a
difference be told from the draw.

--cache DIR keeps each file's per-object NoC@90 (keyed by the file's content hash and the
options), so the reference is scored once.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import tempfile
from pathlib import Path

import numpy as np

from napari_inter2former.evaluation.evaluate import evaluate
from napari_inter2former.evaluation.inter2former_method import Inter2FormerMethod
from napari_inter2former.evaluation.metrics import clicks_to_reach, pad_trajectory
from napari_inter2former.session import Predictor
from napari_inter2former.session.predictor import default_weights_path
from napari_inter2former.session.window import WindowPolicy

MAX_CLICKS = 20


def subset_folder(data: Path, subset: str | None, tmp: Path) -> Path:
    """`data` itself, or a folder of links to its pairs whose names start with `subset`_."""
    if not subset:
        return data
    for part in ("images", "labels"):
        (tmp / part).mkdir(parents=True)
        for f in sorted((data / part).glob(f"{subset}_*")):
            (tmp / part / f.name).symlink_to(f.resolve())
    if not any((tmp / "images").iterdir()):
        raise SystemExit(f"no {subset}_* images in {data / 'images'}")
    return tmp


def parse_entry(entry: str) -> tuple[str, dict]:
    """`PATH[@field=value,...]` -> (PATH, WindowPolicy overrides)."""
    path, _, spec = entry.partition("@")
    try:
        overrides = WindowPolicy.parse_overrides(spec)
    except ValueError as exc:
        raise SystemExit(str(exc)) from None
    return path, overrides


def score(weights: str, folder: Path, per_image: int, threads: int, policy: dict) -> list[dict]:
    """Per object: image, label, subset, NoC@90, reached 0.90, IoU after 5 clicks."""
    predictor = Predictor(weights=weights, threads=threads)
    predictor.window_policy = dataclasses.replace(predictor.window_policy, **policy)
    method = Inter2FormerMethod(predictor=predictor)
    results = evaluate(folder, [method], max_per_image=per_image, seed=0, max_clicks=MAX_CLICKS,
                       volume_mode="slices", stop_iou=0.90, min_clicks=5, progress=False)
    out = []
    for rec in results["methods"]["inter2former"]["objects"]:
        ious = pad_trajectory(rec["ious"], MAX_CLICKS)
        out.append({"image": rec["image"], "label": int(rec["label"]), "subset": rec["subset"],
                    "noc90": clicks_to_reach(ious, 0.90, MAX_CLICKS), "reached": max(ious) >= 0.90,
                    "iou5": ious[4]})
    return out


def cached_score(entry: str, folder: Path, key_extra: str, per_image: int, threads: int,
                 cache: Path | None) -> list[dict]:
    weights, policy = parse_entry(entry)
    file = default_weights_path() if weights == "default" else Path(weights)
    # The key holds the whole resolved policy, so a changed default is not read from the cache.
    resolved = repr(dataclasses.replace(WindowPolicy(), **policy)).encode()
    digest = hashlib.sha256(file.read_bytes() + resolved).hexdigest()[:16]
    path = cache / f"{digest}-{key_extra}-{per_image}.json" if cache else None
    if path is not None and path.exists():
        return json.loads(path.read_text())
    objects = score(weights, folder, per_image, threads, policy)
    if path is not None:
        cache.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(objects))
    return objects


def report(names: list[str], runs: list[list[dict]]) -> None:
    keyed = [{(o["image"], o["label"]): o for o in run} for run in runs]
    common = sorted(set.intersection(*(set(k) for k in keyed)))
    subsets = sorted({keyed[0][k]["subset"] for k in common})
    for subset in subsets:
        keys = [k for k in common if keyed[0][k]["subset"] == subset]
        print(f"\n{subset}: {len(keys)} objects")
        ref = np.array([keyed[0][k]["noc90"] for k in keys], float)
        for name, objs in zip(names, keyed):
            noc = np.array([objs[k]["noc90"] for k in keys], float)
            nof = sum(not objs[k]["reached"] for k in keys)
            miou5 = np.mean([objs[k]["iou5"] for k in keys])
            line = (f"  {name}: NoC@90 {noc.mean():.3f} (SE {noc.std(ddof=1) / np.sqrt(len(keys)):.2f}), "
                    f"NoF {nof}, mIoU@5 {miou5:.3f}")
            if objs is not keyed[0]:
                d = noc - ref
                line += f"; minus reference {d.mean():+.3f} (SE {d.std(ddof=1) / np.sqrt(len(keys)):.3f})"
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", nargs="+", required=True, help="the first is the reference")
    parser.add_argument("--data", default="../shared/data/val")
    parser.add_argument("--subset", default=None, help="only images named SUBSET_* (e.g. usiigaci)")
    parser.add_argument("--per-image", type=int, default=40)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--exclude-per-image", type=int, default=None,
                        help="leave out the objects a run with --per-image N scores")
    args = parser.parse_args()
    data = Path(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        folder = subset_folder(data, args.subset, Path(tmp))
        key = hashlib.sha256(f"{data.resolve()}|{args.subset}".encode()).hexdigest()[:8]
        runs = []
        for w in args.weights:
            runs.append(cached_score(w, folder, key, args.per_image, args.threads, args.cache))
            print(f"scored {w}: {len(runs[-1])} objects", flush=True)
        if args.exclude_per_image:
            drawn = cached_score(args.weights[0], folder, key, args.exclude_per_image, args.threads, args.cache)
            left_out = {(o["image"], o["label"]) for o in drawn}
            runs = [[o for o in run if (o["image"], o["label"]) not in left_out] for run in runs]
            print(f"left out the {len(left_out)} objects of --per-image {args.exclude_per_image}")
    report([w if w.startswith("default") else Path(w).name for w in args.weights], runs)


if __name__ == "__main__":
    main()
