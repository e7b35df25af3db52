"""Where the clicks go: NoC@90 of an evaluation run split by kind of object (docs/model-card.md,
"Limitations").

    napari-inter2former evaluate ../shared/data/val --max-per-image 5 --threads 2 --out RUN --no-plot
    python scripts/object_categories.py RUN/results.json                # categories
    python scripts/object_categories.py RUN/results.json --first-click  # plus where the first mask errs

Categories: touching another labelled object (within 2 px) or not, cut by the image border or
not, area quartiles, and the contrast of the object against a ring 3-6 px around it (lowest and
highest quartile). `--first-click` replays each object's first recorded click with the shipped
weights (2 threads) and splits the wrong pixels into spill onto other labelled objects, spill
onto unlabelled background, and missed object pixels, as fractions of the object's area.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tifffile
from scipy import ndimage


def describe(image: np.ndarray, labels: np.ndarray, label: int) -> dict:
    mask = labels == label
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    ring = ndimage.binary_dilation(mask, iterations=2) & ~mask
    grey = image.astype(np.float32)
    if grey.ndim == 3:
        grey = grey.mean(-1) if grey.shape[-1] in (3, 4) else grey.mean(0)
    around = ndimage.binary_dilation(mask, iterations=6) & ~ndimage.binary_dilation(mask, iterations=2) & (labels == 0)
    outside = grey[around].mean() if around.any() else grey[mask].mean()
    return {
        "border": bool(ys.min() == 0 or xs.min() == 0 or ys.max() == h - 1 or xs.max() == w - 1),
        "touching": bool(((labels[ring] != 0) & (labels[ring] != label)).any()),
        "contrast": float(abs(grey[mask].mean() - outside) / (grey.std() + 1e-6)),
    }


def first_click_errors(rows: list[dict], data: Path) -> None:
    from napari_inter2former.session import Predictor

    predictor = Predictor(threads=2)
    sums: dict[tuple, np.ndarray] = {}
    current = None
    for r in rows:
        if r["image"] != current:
            image, labels = r["_pair"]()
            predictor.set_image(image)
            current = r["image"]
        gt = labels == r["label"]
        y, x, positive = r["clicks"][0]
        mask = predictor.new_session().add_click(int(y), int(x), bool(positive)).to_full(gt.shape)
        key = (r["subset"], r["touching"])
        sums.setdefault(key, np.zeros(4))
        sums[key] += [(mask & ~gt & (labels != 0)).sum(), (mask & (labels == 0)).sum(), (~mask & gt).sum(), gt.sum()]
    for (subset, touching), s in sorted(sums.items()):
        print(f"{subset:9s} {'touching' if touching else 'isolated':9s} first mask: spill onto other objects "
              f"{s[0] / s[3]:.3f}, onto background {s[1] / s[3]:.3f}, missed {s[2] / s[3]:.3f} (of object area)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", help="results.json of `napari-inter2former evaluate`")
    parser.add_argument("--method", default="inter2former")
    parser.add_argument("--first-click", action="store_true", help="replay first clicks (shipped weights)")
    args = parser.parse_args()
    run = json.loads(Path(args.results).read_text())
    data = Path(run["config"]["data"])
    pairs: dict[str, tuple] = {}

    def pair(name):
        if name not in pairs:
            pairs[name] = (tifffile.imread(data / "images" / f"{name}.tif"),
                           tifffile.imread(data / "labels" / f"{name}.tif"))
        return pairs[name]

    rows = []
    for o in run["methods"][args.method]["objects"]:
        image, labels = pair(o["image"])
        noc = next((i + 1 for i, v in enumerate(o["ious"]) if v >= 0.9), run["config"]["max_clicks"])
        rows.append({**o, **describe(image, labels, o["label"]), "noc": noc, "iou1": o["ious"][0],
                     "_pair": lambda name=o["image"]: pair(name)})
    for subset in sorted({r["subset"] for r in rows}):
        rs = [r for r in rows if r["subset"] == subset]
        total = sum(r["noc"] for r in rs)
        print(f"== {subset}: {len(rs)} objects, NoC@90 {total / len(rs):.2f}")

        def show(name, keep):
            sel = [r for r in rs if keep(r)]
            if sel:
                print(f"  {name:24s} n={len(sel):3d}  NoC@90 {np.mean([r['noc'] for r in sel]):5.2f}  "
                      f"IoU@1 {np.mean([r['iou1'] for r in sel]):.3f}  share of clicks {sum(r['noc'] for r in sel) / total:.2f}")

        show("touching another", lambda r: r["touching"])
        show("isolated", lambda r: not r["touching"])
        show("cut by the border", lambda r: r["border"])
        show("inside the image", lambda r: not r["border"])
        q = np.quantile([r["area"] for r in rs], [0.25, 0.5, 0.75])
        edges = [0, *q, np.inf]
        for lo, hi in zip(edges[:-1], edges[1:]):
            show(f"area {lo:.0f}-{hi:.0f} px", lambda r, lo=lo, hi=hi: lo <= r["area"] < hi)
        c = np.quantile([r["contrast"] for r in rs], [0.25, 0.75])
        show("lowest contrast quarter", lambda r: r["contrast"] < c[0])
        show("highest contrast quarter", lambda r: r["contrast"] >= c[1])
    if args.first_click:
        first_click_errors(rows, data)


if __name__ == "__main__":
    main()
