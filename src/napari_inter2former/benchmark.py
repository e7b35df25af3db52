"""`napari-inter2former benchmark`: encoder and per-click latency, hybrid vs full attention, peak memory.

Prints markdown tables (numbers, not pass/fail). Synthetic nucleus-like blobs with known
masks stand in for images, so corrective clicks can be simulated without a data set.
The peak-memory measurement runs in a fresh subprocess so that its RSS high-water
mark is its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .cli import below_minimum


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--weights", default="default",
                        help="weights file; 'default' = the shipped file if present, else random init; "
                             "'random' = random init")
    parser.add_argument("--encoder-sizes", default="256,512,1024",
                        help="tile sides for the encoder timing, comma-separated multiples of 16 (default: %(default)s)")
    parser.add_argument("--windows", default="256,512,1024",
                        help="decoding window sides for the click timing, comma-separated (default: %(default)s)")
    parser.add_argument("--objects", type=int, default=4,
                        help="objects (sessions) for the 256 px window; fewer for larger windows (at least 2)")
    parser.add_argument("--later-clicks", type=int, default=2, help="corrective clicks per object")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per encoder size / ratio")
    parser.add_argument("--ratio-window", type=int, default=512, help="window side for the hybrid/ROI ratios")
    parser.add_argument("--memory-side", type=int, default=20000, help="side of the lazy image for peak memory")
    parser.add_argument("--memory-chunk", type=int, default=1024, help="dask chunk side of that image")
    parser.add_argument("--memory-max-side", type=int, default=512, help="window cap in the memory run")
    parser.add_argument("--skip-memory", action="store_true", help="skip the peak-memory subprocess")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every part at tiny sizes; it replaces --encoder-sizes, --windows, "
                             "--objects, --later-clicks, --repeats, --ratio-window, --memory-side and --memory-chunk")
    parser.add_argument("--policy", default="",
                        help="WindowPolicy fields for every timed window, e.g. vertical_mirror=true")
    parser.add_argument("--output", help="also write the markdown report to this file")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random clicks and images (default: %(default)s)")


# ----- synthetic data

def paint_blobs(labels: np.ndarray, image: np.ndarray, rng: np.random.Generator, density: float,
                first_id: int = 1) -> int:
    """Paint ellipses (semi-axes 6-20 px) into `labels`/`image` in place; returns the next free id."""
    height, width = labels.shape
    count = max(1, int(density * height * width))
    next_id = first_id
    for _ in range(count):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(6, 20), rng.uniform(6, 20)
        y0, y1 = max(0, int(cy - ry)), min(height, int(cy + ry) + 1)
        x0, x1 = max(0, int(cx - rx)), min(width, int(cx + rx) + 1)
        if y0 >= y1 or x0 >= x1:
            continue
        yy, xx = np.mgrid[y0:y1, x0:x1]
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        labels[y0:y1, x0:x1][inside] = next_id
        image[y0:y1, x0:x1][inside] = rng.integers(600, 1500)
        next_id += 1
    return next_id


def blob_image(height: int, width: int, seed: int, density: float = 1 / 3000) -> tuple[np.ndarray, np.ndarray]:
    """uint16 image of bright ellipses on a noisy background, and its label image."""
    rng = np.random.default_rng(seed)
    labels = np.zeros((height, width), np.int32)
    image = np.zeros((height, width), np.uint16)
    paint_blobs(labels, image, rng, density)
    image = image + rng.integers(80, 160, (height, width), dtype=np.uint16)
    return image, labels


def _lazy_blob_chunk(block_info=None):
    """One dask chunk of blobs, seeded by its position (so any chunk is reproducible on its own)."""
    info = block_info[None]
    (y0, y1), (x0, x1) = info["array-location"]
    rng = np.random.default_rng(list(info["chunk-location"]))
    labels = np.zeros((y1 - y0, x1 - x0), np.int32)
    image = np.zeros((y1 - y0, x1 - x0), np.uint16)
    paint_blobs(labels, image, rng, 1 / 3000)
    return image + rng.integers(80, 160, image.shape, dtype=np.uint16)


def lazy_blob_image(side: int, chunk: int):
    import dask.array as da

    chunks = tuple(tuple(min(chunk, side - s) for s in range(0, side, chunk)) for _ in range(2))
    return da.map_blocks(_lazy_blob_chunk, chunks=chunks, dtype=np.uint16, meta=np.empty((0, 0), np.uint16))


# ----- helpers

def _median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def _percentile_ms(values_s: list[float], q: float) -> float:
    return 1000 * float(np.percentile(values_s, q)) if values_s else float("nan")


def _corrective_click(gt: np.ndarray, pred: np.ndarray) -> tuple[int, int, bool] | None:
    """The standard protocol's next click: into the larger error region, at its deepest pixel."""
    from scipy import ndimage

    def depth(region):
        return ndimage.distance_transform_edt(np.pad(region, 1))[1:-1, 1:-1]

    fn_depth, fp_depth = depth(gt & ~pred), depth(pred & ~gt)
    if max(fn_depth.max(), fp_depth.max()) == 0:
        return None
    positive = fn_depth.max() > fp_depth.max()
    chosen = fn_depth if positive else fp_depth
    y, x = np.unravel_index(int(np.argmax(chosen)), chosen.shape)
    return int(y), int(x), bool(positive)


def _deepest_point(mask: np.ndarray) -> tuple[int, int]:
    from scipy import ndimage

    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = mask[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]  # the transform of a big image is slow
    dist = ndimage.distance_transform_edt(np.pad(crop, 1))[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return int(rows[0] + y), int(cols[0] + x)


def _objects_near_centre(labels: np.ndarray, count: int, min_area: int = 150) -> list[int]:
    ids, areas = np.unique(labels[labels > 0], return_counts=True)
    ids = ids[areas >= min_area]
    from scipy import ndimage

    centres = np.array(ndimage.center_of_mass(np.ones_like(labels), labels, ids)).reshape(-1, 2)
    mid = np.array(labels.shape) / 2
    order = np.argsort(((centres - mid) ** 2).sum(1))
    return [int(ids[i]) for i in order[:count]]


def _load_model(weights: str):
    import torch

    from .model import Inter2Former, load_model
    from .session import default_weights_path

    if weights == "random":
        torch.manual_seed(0)
        return Inter2Former().eval(), "random init (seed 0)"
    path = default_weights_path() if weights == "default" else Path(weights)
    if weights == "default" and not path.is_file():
        torch.manual_seed(0)
        return Inter2Former().eval(), f"random init (seed 0): no shipped weights at {path.name}"
    return load_model(path), f"{path.name}"


# ----- parts

def bench_encoder(model, sizes: list[int], repeats: int, halo: int = 64) -> list[dict]:
    import torch

    rows = []
    for side in sizes:
        row = {"side": side}
        for key, s in (("tile_ms", side), ("tile_halo_ms", side + 2 * halo)):
            image = torch.rand(1, 3, s, s, generator=torch.Generator().manual_seed(side))
            with torch.inference_mode():
                row[key] = _median_ms(lambda: model.encode(image), repeats)
        rows.append(row)
    return rows


def bench_clicks(model, windows: list[int], objects: int, later_clicks: int, seed: int,
                 overrides: dict | None = None) -> list[dict]:
    """Click latency with the window forced to each side (native, no magnification), then with
    the default policy ("auto": small objects decoded magnified) on a 1024² blob image."""
    from .session import Predictor, WindowPolicy

    rows = []
    for side in [*windows, "auto"]:
        image_side = 1024 if side == "auto" else max(side, 1024)
        image, labels = blob_image(image_side, image_side, seed + (0 if side == "auto" else side))
        forced = {} if side == "auto" else {"min_side": side, "max_side": side, "max_zoom": 1, "shrink": False}
        policy = WindowPolicy(**{**forced, **(overrides or {})})
        predictor = Predictor(model=model, tile_size=512, halo=64, window_policy=policy)
        predictor.set_image(image)
        # Large windows cost seconds per first click on 2 cores: fewer objects there.
        n = objects if side == "auto" else max(2, round(objects * 256 / side))
        rows.append({"window": side, "image": image_side, **_time_clicks(predictor, labels, n, later_clicks)})
    return rows


def _time_clicks(predictor, labels, n_objects: int, later_clicks: int) -> dict:
    first, later, zooms, cold = [], [], [], None
    for object_id in _objects_near_centre(labels, n_objects):
        gt = labels == object_id
        session = predictor.new_session()
        y, x = _deepest_point(gt)
        result = session.add_click(y, x)
        if cold is None:  # the very first click on this image also encodes its tiles
            cold = (result.latency_s, result.encode_s, result.tiles_encoded)
        # Encoding a magnified window is part of what the user waits for: only tiles are excluded.
        first.append(result.latency_s - (result.encode_s if result.tiles_encoded else 0.0))
        zooms.append(result.extra.get("zoom", 1.0))
        for _ in range(later_clicks):
            y0, y1, x0, x1 = result.window
            h, w = result.mask.shape
            click = _corrective_click(gt[y0 : y0 + h, x0 : x0 + w], result.mask)
            if click is None:
                break
            result = session.add_click(y0 + click[0], x0 + click[1], click[2])
            later.append(result.latency_s - (result.encode_s if result.tiles_encoded else 0.0))
    return {
        "first_n": len(first), "later_n": len(later),
        "first_p50": _percentile_ms(first, 50), "first_p95": _percentile_ms(first, 95),
        "later_p50": _percentile_ms(later, 50), "later_p95": _percentile_ms(later, 95),
        "cold_ms": 1000 * cold[0], "cold_encode_ms": 1000 * cold[1], "cold_tiles": cold[2],
        "magnified": sum(z > 1.0 for z in zooms),
    }


def bench_ratios(model, side: int, repeats: int, seed: int) -> dict:
    """Hybrid vs full attention, DPE and DLU with vs without ROI, on a later-click reference map."""
    import torch

    from .model.reference_map import paint_click, update_reference_map
    from .model.rope import rope_tables
    from .model.routing import boundary_tokens
    from .session import Predictor

    image, labels = blob_image(side, side, seed + 7)
    predictor = Predictor(model=model, tile_size=512, halo=64)
    predictor.set_image(image)
    feats = predictor.cache.window(0, side, 0, side)
    # A realistic state after a few clicks: the previous prediction is one object, with a
    # positive click inside it and a negative click just outside.
    gt = labels == _objects_near_centre(labels, 1)[0]
    y, x = _deepest_point(gt)
    ref = torch.full((side, side), 2, dtype=torch.uint8)
    paint_click(ref, y, x, True, model.config.click_radius)
    ref = update_reference_map(ref, torch.from_numpy(gt))
    ys, xs = np.nonzero(gt)
    paint_click(ref, int(ys.max()) + 8, int(xs.mean()), False, model.config.click_radius)
    s = model.config.token_stride
    h = w = side // s
    boundary = boundary_tokens(ref[None], s)[0].flatten()
    everyone = torch.ones_like(boundary)
    cos, sin = rope_tables(h, w, model.config.attn_dim, model.config.rope_base)
    block = model.blocks[0]
    out = {"window": side, "tokens": h * w, "boundary_tokens": int(boundary.sum())}
    cheap = 3 * repeats  # single modules are fast: more runs steady the medians
    with torch.inference_mode():
        x_tokens = block.norm1((feats.tokens + model.prompt_embedding(ref)).flatten(2)[0].t())
        out["dha_hybrid_ms"] = _median_ms(lambda: block.attn.forward_fast(x_tokens, boundary, cos, sin), cheap)
        out["dha_full_ms"] = _median_ms(lambda: block.attn.forward_fast(x_tokens, everyone, cos, sin), cheap)
        out["dpe_roi_ms"] = _median_ms(lambda: model.prompt_embedding(ref), cheap)
        out["dpe_dense_ms"] = _median_ms(lambda: model.prompt_embedding.dense(ref[None]), cheap)
        decoded = model.decode(feats, ref[None].long(), fast=True)
        dec_feats = torch.randn(1, model.config.dim, h, w, generator=torch.Generator().manual_seed(seed))
        up = model.upsampler
        ref_map = ref[None].long()  # used by an upsampler that takes R (dlu_reference)
        box = up.box(decoded.coarse_logits)
        out["dlu_box_tokens"] = 0 if box is None else (box[1] - box[0]) * (box[3] - box[2])
        # DLU on the model's own coarse map of this window ...
        coarse = decoded.coarse_logits
        original = up.coarse
        try:
            up.coarse = lambda feats: coarse
            out["dlu_roi_ms"] = _median_ms(lambda: up(dec_feats, feats.edges, ref_map), cheap)
            # ... and on a box of just this object (what a trained coarse head gives).
            blob = torch.full_like(coarse, -10.0)
            rows, cols = np.nonzero(gt.reshape(h, s, w, s).any(axis=(1, 3)))
            blob[..., rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = 1.0
            up.coarse = lambda feats: blob
            b = up.box(blob)
            out["dlu_object_box_tokens"] = (b[1] - b[0]) * (b[3] - b[2])
            out["dlu_object_ms"] = _median_ms(lambda: up(dec_feats, feats.edges, ref_map), cheap)
        finally:
            up.coarse = original
        out["dlu_dense_ms"] = _median_ms(lambda: up.dense(dec_feats, feats.edges, ref_map), cheap)
        out["decode_fast_ms"] = _median_ms(lambda: model.decode(feats, ref[None].long(), fast=True), repeats)
        out["decode_full_ms"] = _median_ms(
            lambda: model.decode(feats, ref[None].long(), fast=False, all_full_attention=True), repeats)
    return out


MEMORY_CHILD = """
import json, sys, time
args = json.loads(sys.argv[1])
import torch
torch.set_num_threads(args["threads"])
from napari_inter2former.benchmark import _load_model, _peak_rss_mb, _rss_mb, lazy_blob_image
from napari_inter2former.session import Predictor, WindowPolicy
model, _ = _load_model(args["weights"])
before = _rss_mb()
image = lazy_blob_image(args["side"], args["chunk"])
predictor = Predictor(model=model, window_policy=WindowPolicy(max_side=args["max_side"]))
start = time.perf_counter()
predictor.set_image(image)
stats_s = time.perf_counter() - start
peak_stats = _peak_rss_mb()
c = args["side"] // 2
result = predictor.new_session().add_click(c, c)
peak = _peak_rss_mb()
print(json.dumps({"rss_before_mb": before, "rss_after_mb": _rss_mb(), "peak_mb": peak,
                  "peak_stats_mb": peak_stats, "stats_s": stats_s,
                  "click_s": result.latency_s, "encode_s": result.encode_s, "tiles": result.tiles_encoded,
                  "window": list(result.window), "cache_mb": predictor.cache.cached_bytes / 2**20}))
"""


def _proc_status_mb(field: str) -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def _rss_mb() -> float:
    """Current resident set size (Linux /proc; NaN elsewhere)."""
    value = _proc_status_mb("VmRSS")
    return float("nan") if value is None else value


def _peak_rss_mb() -> float:
    """RSS high-water mark of this process. VmHWM, not ru_maxrss: on Linux ru_maxrss survives
    exec, so a child spawned by a big parent would report the parent's peak."""
    value = _proc_status_mb("VmHWM")
    if value is None:
        import resource

        value = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)
    return value


def bench_memory(weights: str, threads: int, side: int, chunk: int, max_side: int) -> dict:
    args = json.dumps({"weights": weights, "threads": threads, "side": side, "chunk": chunk, "max_side": max_side})
    proc = subprocess.run([sys.executable, "-c", MEMORY_CHILD, args], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"memory subprocess failed:\n{proc.stderr[-2000:]}")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out.update(side=side, chunk=chunk, max_side=max_side)
    return out


# ----- report

def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "n/a"


def report(meta: dict, encoder: list[dict], clicks: list[dict], ratios: dict | None, memory: dict | None) -> str:
    lines = [
        f"- machine: {meta['machine']}; torch {meta['torch']}; threads: {meta['threads']}",
        f"- weights: {meta['weights']}; window policy: {meta.get('policy', 'defaults')}",
        f"- concurrent load: {meta['load']}",
        "",
        "Encoder, median ms per tile (after warm-up):",
        "",
        "| tile | tile only | tile + 64 px halo (as cached) |",
        "|---|---|---|",
    ]
    for r in encoder:
        lines.append(f"| {r['side']}² | {r['tile_ms']:.0f} | {r['tile_halo_ms']:.0f} ({r['side'] + 128}²) |")
    lines += [
        "",
        "Per click, ms, tiles cached (a magnified window's own encoding is included); window forced with "
        "WindowPolicy(min_side=S, max_side=S, max_zoom=1, shrink=False), or chosen by the default policy (auto):",
        "",
        "| window | image | first click p50 / p95 (n) | later clicks p50 / p95 (n) | first click incl. encoding (tiles) |",
        "|---|---|---|---|---|",
    ]
    for r in clicks:
        window = (f"auto ({r['magnified']} of {r['first_n']} magnified)" if r["window"] == "auto"
                  else f"{r['window']}²")
        lines.append(
            f"| {window} | {r['image']}² | {r['first_p50']:.0f} / {r['first_p95']:.0f} ({r['first_n']}) "
            f"| {r['later_p50']:.0f} / {r['later_p95']:.0f} ({r['later_n']}) "
            f"| {r['cold_ms']:.0f} ({r['cold_tiles']} tiles, {r['cold_encode_ms']:.0f} ms encoding) |")
    if ratios:
        r = ratios
        lines += [
            "",
            f"Hybrid vs full, {r['window']}² window, a later-click map "
            f"({r['boundary_tokens']} of {r['tokens']} tokens boundary), median ms:",
            "",
            "| part | dynamic | full | full / dynamic |",
            "|---|---|---|---|",
            f"| DHA attention (one block) | {r['dha_hybrid_ms']:.1f} | {r['dha_full_ms']:.1f} "
            f"| {_ratio(r['dha_full_ms'], r['dha_hybrid_ms'])} |",
            f"| DPE (ROI vs whole window) | {r['dpe_roi_ms']:.1f} | {r['dpe_dense_ms']:.1f} "
            f"| {_ratio(r['dpe_dense_ms'], r['dpe_roi_ms'])} |",
            f"| DLU, model's own box ({r['dlu_box_tokens']} of {r['tokens']} tokens) | {r['dlu_roi_ms']:.1f} "
            f"| {r['dlu_dense_ms']:.1f} | {_ratio(r['dlu_dense_ms'], r['dlu_roi_ms'])} |",
            f"| DLU, one-object box ({r['dlu_object_box_tokens']} tokens) | {r['dlu_object_ms']:.1f} "
            f"| {r['dlu_dense_ms']:.1f} | {_ratio(r['dlu_dense_ms'], r['dlu_object_ms'])} |",
            f"| whole decode (fast path vs dense, all full attention) | {r['decode_fast_ms']:.1f} "
            f"| {r['decode_full_ms']:.1f} | {_ratio(r['decode_full_ms'], r['decode_fast_ms'])} |",
        ]
    if memory:
        m = memory
        lines += [
            "",
            f"Peak memory, first click on a lazy {m['side']}x{m['side']} uint16 dask image (chunks {m['chunk']}², "
            f"tiles 512 + 64 halo, window cap {m['max_side']}), fresh subprocess:",
            "",
            "| RSS after imports + model | RSS after the click | peak RSS (VmHWM) after statistics / after the click "
            "| statistics | first click (encoding) | tiles | feature cache |",
            "|---|---|---|---|---|---|---|",
            f"| {m['rss_before_mb']:.0f} MB | {m['rss_after_mb']:.0f} MB | {m['peak_stats_mb']:.0f} / {m['peak_mb']:.0f} MB "
            f"| {m['stats_s']:.1f} s "
            f"| {m['click_s']:.2f} s ({m['encode_s']:.2f} s) | {m['tiles']} | {m['cache_mb']:.1f} MB |",
        ]
    return "\n".join(lines) + "\n"


def _concurrent_load() -> str:
    try:
        import psutil

        others = [p for p in psutil.process_iter(["pid", "cmdline"]) if p.pid != psutil.Process().pid]
        training = [p for p in others if any("train" in part for part in (p.info["cmdline"] or [])[:4])]
        load = ", ".join(f"{x:.1f}" for x in psutil.getloadavg())
        return f"{'a training job was running' if training else 'no training job'}; load average {load}"
    except Exception:  # psutil missing or restricted: not worth failing the benchmark for
        return "unknown"


def _sides(text: str, name: str) -> list[int]:
    try:
        sides = [int(v) for v in text.split(",")]
    except ValueError:
        raise ValueError(f"--{name} takes comma-separated whole numbers, e.g. 256,512; got {text!r}") from None
    if any(s < 16 or s % 16 for s in sides):
        raise ValueError(f"--{name}: every side must be a multiple of 16 of at least 16, got {text!r}")
    return sides


def _policy_overrides(spec: str) -> dict:
    from .session import WindowPolicy

    try:
        return WindowPolicy.parse_overrides(spec)
    except ValueError as exc:
        raise ValueError(f"--policy: {exc}") from None


def _option_problem(args) -> str | None:
    problem = below_minimum(args, (("threads", 1), ("objects", 2), ("later_clicks", 1), ("repeats", 1),
                                   ("ratio_window", 16), ("memory_side", 16), ("memory_chunk", 16),
                                   ("memory_max_side", 16), ("seed", 0)))
    if problem:
        return problem
    try:
        _sides(args.encoder_sizes, "encoder-sizes")
        _policy_overrides(args.policy)
        _sides(args.windows, "windows")
    except ValueError as exc:
        return str(exc)
    if args.output and not Path(args.output).resolve().parent.is_dir():
        return f"--output: the folder of {args.output} does not exist"
    if args.output and Path(args.output).is_dir():
        return f"--output {args.output} is a folder: give a file name, e.g. {Path(args.output) / 'benchmark.md'}"
    return None


def run(args: argparse.Namespace) -> int:
    import torch

    if args.quick:
        args.encoder_sizes, args.windows, args.objects, args.later_clicks = "256", "256", 2, 1
        args.repeats, args.ratio_window, args.memory_side, args.memory_chunk = 1, 256, 4096, 512
    problem = _option_problem(args)
    if problem:  # found before minutes of timing, not after
        print(f"napari-inter2former benchmark: error: {problem}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    model, weights_desc = _load_model(args.weights)
    meta = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs", "torch": torch.__version__,
            "threads": args.threads, "weights": weights_desc, "load": _concurrent_load(),
            "policy": args.policy or "defaults"}
    print(f"weights: {weights_desc}; threads: {args.threads}", flush=True)
    started = time.perf_counter()
    encoder = bench_encoder(model, _sides(args.encoder_sizes, "encoder-sizes"), args.repeats)
    print(f"encoder done ({time.perf_counter() - started:.0f} s)", flush=True)
    clicks = bench_clicks(model, _sides(args.windows, "windows"), args.objects, args.later_clicks, args.seed,
                          _policy_overrides(args.policy))
    print(f"clicks done ({time.perf_counter() - started:.0f} s)", flush=True)
    ratios = bench_ratios(model, args.ratio_window, args.repeats, args.seed)
    print(f"ratios done ({time.perf_counter() - started:.0f} s)", flush=True)
    memory = None
    if not args.skip_memory:
        memory = bench_memory(args.weights, args.threads, args.memory_side, args.memory_chunk, args.memory_max_side)
        print(f"memory done ({time.perf_counter() - started:.0f} s)", flush=True)
    meta["load"] += f" (at the end: {_concurrent_load()})"
    text = report(meta, encoder, clicks, ratios, memory)
    print()
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="napari-inter2former benchmark", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
