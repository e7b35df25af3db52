"""Can the model fit a fixed set of training samples exactly? (docs/model-card.md, "Limitations")

    python scripts/memorisation_probe.py --subset usiigaci --samples 64 --steps 480

Draws `--samples` crops once, each with its own first prompts, from the training data. It
uses the training's own sampler (crop 224, augmentations) and starting prompts. Then it
trains the shipped weights on exactly those samples, in turn, `--batch` at a time, with no
corrective rounds. Every `--report-every` steps it prints the IoU of the full-resolution
mask (dense path, eval mode) over all samples: mean, minimum and how many reach 0.90.

Real training never shows the same view twice. This probe removes that variation, so it
separates "the network cannot draw these outlines at all" (a resolution or capacity ceiling)
from "it does not learn a rule that holds across views and cells".
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from napari_inter2former.model import load_model
from napari_inter2former.session.predictor import default_weights_path
from napari_inter2former.training.dataset import CropSampler, load_folder
from napari_inter2former.training.initial_prompts import initial_reference
from napari_inter2former.training.trainer import TrainConfig, mask_iou, training_loss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data/train", help="training folder or packed .npz")
    parser.add_argument("--subset", default="usiigaci", help="image name prefix to draw from")
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--steps", type=int, default=480)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--report-every", type=int, default=80)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    images = [im for im in load_folder(args.data) if im.subset == args.subset]
    if not images:
        raise SystemExit(f"no '{args.subset}' images in {args.data}")
    sampler = CropSampler(images, crop=224, seed=args.seed)
    crops, targets, _ = sampler.batch(args.samples)
    rng = np.random.default_rng(args.seed + 1)
    model = load_model(default_weights_path())
    refs = torch.stack([initial_reference(t[0].numpy(), rng, model.config.click_radius, 0.5) for t in targets])
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    b = args.batch

    def report(step: int, started: float) -> None:
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model.decode(model.encode(crops[i : i + b]), refs[i : i + b], fast=False).logits > 0
                              for i in range(0, args.samples, b)])
        iou = mask_iou(pred, targets)
        print(f"step {step:4d} {time.time() - started:5.0f}s  IoU mean {iou.mean():.3f} min {iou.min():.3f}  "
              f">=0.90: {int((iou >= 0.9).sum())}/{args.samples}", flush=True)

    started = time.time()
    report(0, started)
    for step in range(1, args.steps + 1):
        model.train()
        j = ((step - 1) * b) % args.samples
        crop, ref, target = crops[j : j + b], refs[j : j + b], targets[j : j + b]
        out = model.decode(model.encode(crop), ref, fast=False)
        loss = training_loss(out, target, TrainConfig.coarse_weight)[0]  # the trainer's default loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        model.update_balance_biases()
        if step % args.report_every == 0:
            report(step, started)


if __name__ == "__main__":
    main()
