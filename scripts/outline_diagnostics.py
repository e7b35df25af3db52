"""Where the remaining error of the shipped model lies (docs/model-card.md, "Limitations").

    python scripts/outline_diagnostics.py stats   # error pixels by distance to the annotated outline
    python scripts/outline_diagnostics.py figure docs/images/usiigaci-outlines.png

Both drive the default predictor (2 threads) through the evaluation's own `run_object`
(first click at the deepest point, then the RITM next-click rule) on `../shared/data/val`.
`stats` uses the objects of the evaluation tool's default selection (at most 5 per image,
seed 0; every fourth DSB one, for time) and also reports how much IoU a one-pixel change of
each annotated outline costs by itself.
"""

from __future__ import annotations

import sys

import numpy as np
from scipy import ndimage as ndi

from napari_inter2former.evaluation.data import find_pairs, load_pair
from napari_inter2former.evaluation.inter2former_method import Inter2FormerMethod
from napari_inter2former.evaluation.runner import run_object
from napari_inter2former.evaluation.targets import pick_targets
from napari_inter2former.session import Predictor
from napari_inter2former.session.image_source import ImageSource

VAL = "../shared/data/val"
FIGURE_CELLS = [("usiigaci_set19", 49), ("usiigaci_set41", 66), ("usiigaci_set26", 60),
                ("usiigaci_set14", 18), ("usiigaci_set13", 6)]


def band_fractions(gt, pred):
    """Fractions of wrong pixels at distance <=1, (1, 2], (2, 4] and > 4 px from the annotated outline."""
    outline = gt ^ ndi.binary_erosion(gt)
    dist = ndi.distance_transform_edt(~outline)[gt ^ pred]
    return np.array([(dist <= 1).sum(), ((dist > 1) & (dist <= 2)).sum(), ((dist > 2) & (dist <= 4)).sum(),
                     (dist > 4).sum()], dtype=float)


def stats(clicks: int = 10) -> None:
    method = Inter2FormerMethod(predictor=Predictor(threads=2))
    bands, shifts, missed = {}, {}, {}
    dsb_seen = 0
    for pair in find_pairs(VAL):
        loaded = load_pair(pair)
        if loaded.volume:
            continue
        subset = pair.subset
        targets = pick_targets(loaded.labels, pair.name, 5, min_area=20, seed=0).ids
        method.set_image(loaded.image)
        for label in targets:
            if subset == "dsb":
                dsb_seen += 1
                if dsb_seen % 4:
                    continue
            gt = loaded.labels == label
            pred = run_object(method, gt, max_clicks=clicks).pred
            bands[subset] = bands.get(subset, 0) + band_fractions(gt, pred)
            m = missed.setdefault(subset, [0, 0])
            m[0] += int((gt & ~pred).sum())
            m[1] += int((pred & ~gt).sum())
            shrunk, grown = ndi.binary_erosion(gt).sum() / gt.sum(), gt.sum() / ndi.binary_dilation(gt).sum()
            shifts.setdefault(subset, []).append((shrunk, grown))
    for subset, b in bands.items():
        f = b / b.sum()
        s = np.array(shifts[subset])
        below = ((s[:, 0] < 0.9) & (s[:, 1] < 0.9)).mean()
        print(f"{subset}: {len(s)} objects, after {clicks} clicks wrong pixels within 1 px of the outline {f[0]:.2f}, "
              f"1-2 px {f[1]:.2f}, 2-4 px {f[2]:.2f}, beyond {f[3]:.2f}; missed {missed[subset][0]} px, "
              f"extra {missed[subset][1]} px")
        print(f"{subset}: the annotation itself shrunk by 1 px: mean IoU {s[:, 0].mean():.3f}; grown by 1 px: "
              f"{s[:, 1].mean():.3f}; below 0.90 both ways: {below:.0%} of the objects")


def figure(path: str, clicks=(1, 3, 6, 12)) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    method = Inter2FormerMethod(predictor=Predictor(threads=2))
    pairs = {p.name: p for p in find_pairs(VAL)}
    fig, axes = plt.subplots(len(FIGURE_CELLS), len(clicks), figsize=(4 * len(clicks), 4 * len(FIGURE_CELLS)))
    for row, (name, label) in enumerate(FIGURE_CELLS):
        loaded = load_pair(pairs[name])
        gt = loaded.labels == label
        method.set_image(loaded.image)
        ys, xs = np.nonzero(gt)
        h, w = gt.shape
        y0, y1, x0, x1 = max(ys.min() - 30, 0), min(ys.max() + 30, h), max(xs.min() - 30, 0), min(xs.max() + 30, w)
        crop = ImageSource(loaded.image).read(y0, y1, x0, x1).mean(axis=0)  # the predictor's normalisation
        for col, k in enumerate(clicks):
            # Each snapshot replays the same deterministic clicks from scratch, up to k of them.
            trajectory = run_object(method, gt, max_clicks=k)
            pred = trajectory.pred
            rgb = np.dstack([crop] * 3)
            rgb[find_boundaries(gt[y0:y1, x0:x1])] = (0, 1, 0)
            rgb[find_boundaries(pred[y0:y1, x0:x1])] = (1, 0, 0)
            ax = axes[row, col]
            ax.imshow(rgb)
            for cy, cx, positive in trajectory.clicks:
                ax.plot(cx - x0, cy - y0, "o", color="cyan" if positive else "magenta", ms=6, mec="k")
            iou = (pred & gt).sum() / max((pred | gt).sum(), 1)
            ax.set_xlim(-0.5, crop.shape[1] - 0.5)
            ax.set_ylim(crop.shape[0] - 0.5, -0.5)
            ax.set_title(f"{name[9:]} cell {label}, {k} clicks, IoU {iou:.2f}")
            ax.axis("off")
    plt.tight_layout()
    plt.savefig(path, dpi=55)


if __name__ == "__main__":
    if sys.argv[1:2] == ["stats"]:
        stats()
    elif sys.argv[1:2] == ["figure"] and len(sys.argv) == 3:
        figure(sys.argv[2])
    else:
        sys.exit(__doc__)
