"""Writing evaluation results: JSON (everything), a Markdown table, a PNG of mIoU vs clicks."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

MIOU_AT = (1, 3, 5, 10, 20)


def _fmt(value, digits=2):
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def markdown_table(results: dict) -> str:
    """Side-by-side table: one row per method and subset (and overall), plus carry runs."""
    max_clicks = results["config"]["max_clicks"]
    ks = [k for k in MIOU_AT if k <= max_clicks]
    head = (["method", "subset", "objects", "NoC@85", "NoC@90", "NoC@95", "NoF@90", "NoF@95"]
            + [f"mIoU@{k}" for k in ks] + ["click p50 ms", "click p95 ms", "encode s/img"])
    cfg = results["config"]
    counts = "; ".join(
        f"{s}: {c.get('evaluated', 0)} of {c.get('eligible', 0)} objects >= {cfg['min_area']} px "
        f"({c.get('labelled', 0)} labelled) in {c.get('images', 0)} images"
        + (f", {c['carry_objects']} carried through volumes" if c.get("carry_objects") else "")
        for s, c in results["data"]["subsets"].items())
    lines = [f"Objects evaluated (at most {cfg['max_per_image'] or 'all'} per image, seed {cfg['seed']}): {counts}.", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in results["methods"].items():
        summary = res.get("summary")
        if not summary:
            continue
        rows = list(summary["subsets"].items())
        if len(rows) > 1 or not rows:
            rows.append(("**all**", summary["overall"]))
        for subset, m in rows:
            cells = [name, subset, m["objects"], _fmt(m["noc85"]), _fmt(m["noc90"]), _fmt(m["noc95"]),
                     m["nof90"], m["nof95"]]
            cells += [_fmt(100 * m["miou"][k - 1] if m["miou"][k - 1] is not None else None, 1) for k in ks]
            cells += [_fmt(m["latency_p50_ms"], 1), _fmt(m["latency_p95_ms"], 1), _fmt(m["encode_s_mean"], 3)]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    carry = [(n, r["carry"]) for n, r in results["methods"].items() if r.get("carry")]
    if carry:
        target = carry[0][1]["target_iou"]
        lines += ["", f"Carry through volumes (clicks until IoU >= {target:.2f}, at most {max_clicks} per slice):", ""]
        head = ["method", "objects", "slices", "clicks/slice", "first slice", "carried slice",
                "carried w/o click", "mean IoU", "failed slices", "click p50 ms", "click p95 ms"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name, c in carry:
            cells = [name, c["objects"], c["slices"], _fmt(c["clicks_per_slice"]), _fmt(c["clicks_first_slice"]),
                     _fmt(c["clicks_per_carried_slice"]),
                     _fmt(None if c["carried_slices_without_clicks"] is None else 100 * c["carried_slices_without_clicks"], 0) + "%",
                     _fmt(c["mean_final_iou"], 3), c["slices_failed"], _fmt(c["latency_p50_ms"], 1),
                     _fmt(c["latency_p95_ms"], 1)]
            lines.append("| " + " | ".join(str(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def plot_miou(results: dict, path: Path) -> Path | None:
    """mIoU vs number of clicks, one line per method (overall). None if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        warnings.warn("matplotlib is not installed: skipping the mIoU plot", stacklevel=2)
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for name, res in results["methods"].items():
        summary = res.get("summary")
        if not summary or summary["overall"]["objects"] == 0:
            continue
        miou = summary["overall"]["miou"]
        ax.plot(range(1, len(miou) + 1), [100 * v for v in miou], marker="o", markersize=3, label=name)
        drawn = True
    ax.set_xlabel("number of clicks")
    ax.set_ylabel("mIoU (%)")
    ax.set_xticks(range(1, results["config"]["max_clicks"] + 1, 2 if results["config"]["max_clicks"] > 10 else 1))
    ax.grid(alpha=0.3)
    ax.set_title(f"mIoU vs clicks: {Path(results['config']['data']).name}")
    if drawn:
        ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_reports(results: dict, out_dir, plot: bool = True) -> dict[str, Path]:
    """Write results.json, results.md (and miou.png) into `out_dir`; return their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "results.json", "markdown": out_dir / "results.md"}
    paths["json"].write_text(json.dumps(results, indent=1))
    paths["markdown"].write_text(markdown_table(results))
    if plot:
        png = plot_miou(results, out_dir / "miou.png")
        if png is not None:
            paths["plot"] = png
    return paths
