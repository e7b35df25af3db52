"""The evaluation as a function: data folder + methods -> results dict (JSON-ready).

For every image (or volume slice) the same targets and the same simulated user are
used for every method, so the numbers are directly comparable. Volumes are also run
in carry mode (see runner.run_carry).
"""

from __future__ import annotations

import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from ..session.errors import ImageError
from ..session.image_source import ImageSource
from .data import DataError, Loaded, Pair, find_pairs, limit_pairs, load_pair
from .methods import Method, make_method
from .metrics import accuracy_summary, speed_summary
from .runner import run_carry, run_object
from .targets import object_areas, pick_targets

VOLUME_MODES = ("slices", "carry", "both")


def _items_2d(loaded: Loaded, slice_step: int):
    """(name, image2d, labels2d, z) for a 2-D pair, or for sampled slices of a volume."""
    if not loaded.volume:
        yield loaded.pair.name, loaded.image, loaded.labels, None
        return
    for z in range(0, loaded.labels.shape[0], slice_step):
        yield f"{loaded.pair.name}_z{z:03d}", loaded.image[z], loaded.labels[z], z


def image_problem(image: np.ndarray) -> str | None:
    """Why the predictor would refuse this 2-D image (constant, NaN, too small), or None.
    Checked for every method alike, so all of them see the same images."""
    try:
        ImageSource(image)
    except ImageError as exc:
        return str(exc)
    return None


def _skip(pair: Pair, z: int | None, problem: str, what: str = "") -> None:
    # One unusable image should not cost the whole run: say which file, and go on.
    where = f"{pair.image_path}" + (f" slice {z}" if z is not None else "")
    print(f"skipped {where}{what}: {problem}", file=sys.stderr)


def _carry_targets(labels: np.ndarray, name: str, max_per_image, min_area, seed):
    """Volume objects sized by their largest slice; start slice = that slice (lowest z on ties)."""
    flat = labels.reshape(labels.shape[0], -1)
    best_area: dict[int, int] = {}
    best_z: dict[int, int] = {}
    for z in range(labels.shape[0]):
        for i, a in object_areas(flat[z]).items():
            if a > best_area.get(i, 0):
                best_area[i], best_z[i] = a, z
    choice = pick_targets(labels, name, max_per_image, min_area, seed, areas=best_area)
    return choice, best_z


def _machine() -> dict:
    info = {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "python": platform.python_version(),
            "omp_num_threads": os.environ.get("OMP_NUM_THREADS")}
    try:
        import torch

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
    except ImportError:
        pass
    return info


def _resolve_methods(methods, weights, predictor, threads) -> list[Method]:
    out = []
    for m in methods:
        out.append(m if isinstance(m, Method) else make_method(m, weights=weights, predictor=predictor, threads=threads))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValueError(f"each method may appear once, got {names}")
    return out


def summarise_objects(objects: list[dict], encode_by_image: dict[str, float], max_clicks: int) -> dict:
    """Overall and per-subset accuracy/speed of one method's 2-D object records."""
    groups: dict[str, list[dict]] = defaultdict(list)
    for rec in objects:
        groups[rec["subset"]].append(rec)

    def one(recs, images):
        acc = accuracy_summary([r["ious"] for r in recs], max_clicks)
        lat = [v / 1000 for r in recs for v in r["latency_ms"]]
        return {**acc, **speed_summary(lat, [encode_by_image[i] for i in images])}

    image_subset = {r["image"]: r["subset"] for r in objects}
    out = {"overall": one(objects, list(image_subset))}
    out["subsets"] = {s: one(recs, [i for i, si in image_subset.items() if si == s])
                      for s, recs in sorted(groups.items())}
    return out


def summarise_carry(objects: list[dict], carry_iou: float) -> dict:
    """Clicks per slice and success of carried objects."""
    slices = [s for o in objects for s in o["slices"]]
    start = [s for s in slices if not s["carried"]]
    carried = [s for s in slices if s["carried"]]
    lat = [v / 1000 for s in slices for v in s["latency_ms"]]

    def mean(values):
        return float(np.mean(values)) if values else None

    return {
        "objects": len(objects), "slices": len(slices), "target_iou": carry_iou,
        "clicks_per_slice": mean([s["n_clicks"] for s in slices]),
        "clicks_first_slice": mean([s["n_clicks"] for s in start]),
        "clicks_per_carried_slice": mean([s["n_clicks"] for s in carried]),
        "carried_slices_without_clicks": mean([s["n_clicks"] == 0 for s in carried]),
        "mean_final_iou": mean([s["iou"] for s in slices]),
        "slices_failed": int(sum(s["iou"] < carry_iou for s in slices)),
        "clicks_total": int(sum(s["n_clicks"] for s in slices)),
        **speed_summary(lat, [s["encode_s"] for s in slices]),
    }


def evaluate(data, methods=("inter2former",), *, max_per_image: int | None = 5, min_area: int = 20,
             seed: int = 0, max_clicks: int = 20, limit_images: int | None = None, volume_mode: str = "both",
             slice_step: int = 8, carry_iou: float = 0.9, stop_iou: float | None = None, min_clicks: int = 1,
             weights="default", predictor=None, threads: int | None = None, progress: bool = True) -> dict:
    """Evaluate `methods` (names or Method objects) on a data folder (or one image file).

    Returns a JSON-ready dict: config, data counts, and per method the per-object records
    (clicks, IoU after every click, latencies), per-image encoder time, and summaries
    (overall and per subset; `carry` for volumes). See docs/benchmarks.md.
    """
    if max_clicks < 1:
        raise ValueError("max_clicks must be at least 1")
    if volume_mode not in VOLUME_MODES:
        raise ValueError(f"volume_mode must be one of {VOLUME_MODES}, got {volume_mode!r}")
    if max_per_image is not None and max_per_image < 1:
        raise ValueError(f"max_per_image must be at least 1 (or None for all), got {max_per_image}")
    if slice_step < 1:
        raise ValueError("slice_step must be at least 1")
    pairs = limit_pairs(find_pairs(data), limit_images)
    method_objs = _resolve_methods(methods, weights, predictor, threads)
    started = time.perf_counter()

    # Plan: targets per image, picked once for all methods (labels only; images are read later).
    plan = []
    skipped = 0
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pair in pairs:
        loaded = load_pair(pair)
        entry = {"pair": pair, "volume": loaded.volume, "items": [], "carry": None}
        sub = counts[pair.subset]
        if not loaded.volume or volume_mode in ("slices", "both"):
            for name, image, labels, z in _items_2d(loaded, slice_step):
                problem = image_problem(image)
                if problem:
                    _skip(pair, z, problem)
                    skipped += 1
                    continue
                choice = pick_targets(labels, name, max_per_image, min_area, seed)
                entry["items"].append((name, z, choice))
                sub["images"] += 1
                sub["labelled"] += choice.labelled
                sub["eligible"] += choice.eligible
                sub["evaluated"] += len(choice.ids)
        if loaded.volume and volume_mode in ("carry", "both"):
            problems = ((z, image_problem(loaded.image[z])) for z in range(loaded.labels.shape[0]))
            bad = next(((z, p) for z, p in problems if p), None)
            if bad:
                _skip(pair, bad[0], bad[1], " (carry mode: the whole volume)")
                skipped += 1
                plan.append(entry)
                continue
            entry["carry"] = _carry_targets(loaded.labels, pair.name, max_per_image, min_area, seed)
            sub["carry_objects"] += len(entry["carry"][0].ids)
        plan.append(entry)
    total_2d = sum(len(c.ids) for e in plan for _, _, c in e["items"])
    total_carry = sum(len(e["carry"][0].ids) for e in plan if e["carry"])
    if total_2d + total_carry == 0 and skipped:
        raise DataError(f"no usable image in {data}: {skipped} skipped (see above)")
    if total_2d + total_carry == 0:
        raise DataError(f"no object in {data} has at least {min_area} pixels: nothing to evaluate")

    results = {m.name: {"objects": [], "encode_s": {}, "carry_objects": []} for m in method_objs}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=(total_2d + total_carry) * len(method_objs), unit="obj", desc="evaluate")
    try:
        for entry in plan:
            loaded = load_pair(entry["pair"])
            subset = entry["pair"].subset
            images = {name: (image, labels) for name, image, labels, _ in _items_2d(loaded, slice_step)}
            for method in method_objs:
                res = results[method.name]
                for name, z, choice in entry["items"]:
                    if not choice.ids:
                        continue
                    image, labels = images[name]
                    records = []
                    try:
                        encode = float(method.set_image(image))
                        for label_id, area in zip(choice.ids, choice.areas):
                            if bar is not None:
                                bar.set_postfix_str(f"{method.name} {name}", refresh=False)
                            traj = run_object(method, labels == label_id, max_clicks, stop_iou, min_clicks)
                            encode += traj.encode_s
                            rec = {"image": name, "subset": subset, "label": label_id, "area": area,
                                   **traj.to_json()}
                            if z is not None:
                                rec["z"] = z
                            records.append(rec)
                            if bar is not None:
                                bar.update(1)
                    except ImageError as exc:  # e.g. NaN in a part of a big image the check did not sample
                        _skip(entry["pair"], z, str(exc), f" for {method.name}")
                        continue
                    res["objects"].extend(records)
                    res["encode_s"][name] = encode
                if entry["carry"]:
                    choice, best_z = entry["carry"]
                    for label_id, area in zip(choice.ids, choice.areas):
                        slices = run_carry(method, loaded.image, loaded.labels, label_id, best_z[label_id],
                                           carry_iou, max_clicks)
                        res["carry_objects"].append({
                            "volume": entry["pair"].name, "subset": subset, "label": label_id,
                            "max_slice_area": area, "start_z": best_z[label_id],
                            "slices": [s.to_json() for s in slices]})
                        if bar is not None:
                            bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    out_methods = {}
    for method in method_objs:
        res = results[method.name]
        entry = {"params": method.describe(), "objects": res["objects"], "encode_s": res["encode_s"]}
        if res["objects"]:
            entry["summary"] = summarise_objects(res["objects"], res["encode_s"], max_clicks)
        if res["carry_objects"]:
            entry["carry_objects"] = res["carry_objects"]
            entry["carry"] = summarise_carry(res["carry_objects"], carry_iou)
        out_methods[method.name] = entry
    return {
        "config": {"data": str(Path(data)), "methods": [m.name for m in method_objs], "seed": seed,
                   "max_per_image": max_per_image, "min_area": min_area, "max_clicks": max_clicks,
                   "limit_images": limit_images, "volume_mode": volume_mode, "slice_step": slice_step,
                   "carry_iou": carry_iou, "stop_iou": stop_iou, "min_clicks": min_clicks},
        "machine": _machine(),
        "data": {"pairs": len(pairs), "subsets": {s: dict(c) for s, c in sorted(counts.items())}},
        "wall_s": time.perf_counter() - started,
        "methods": out_methods,
    }
