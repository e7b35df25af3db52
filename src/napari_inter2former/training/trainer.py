"""Iterative click training of Inter2Former (the paper's recipe, on microscopy crops).

Each step: encode a batch of crops once; place first clicks (the deepest
point, or a random interior point plus random negatives); run k rounds without
gradient (P(k) ~ 0.6**k), each predicting, folding the prediction into R and
adding the RITM corrective click; then one decoder pass with gradient on the
final R. Loss: normalised focal loss on full-resolution and coarse logits plus
the BSQ commitment loss. After the step, the HMoE balancing biases move.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..model import Inter2Former, Inter2FormerConfig, save_model
from ..model.reference_map import initial_reference_map, paint_click, seed_reference_map, update_reference_map
from .click_simulation import deepest_point, next_click, random_interior_point
from .dataset import CropSampler
from .losses import normalized_focal_loss


@dataclass
class TrainConfig:
    steps: int = 6000
    batch: int = 8
    crop: int = 256
    lr: float = 4e-4
    weight_decay: float = 0.05
    warmup: int = 200
    max_rounds: int = 12
    round_decay: float = 0.6
    coarse_weight: float = 0.4
    threads: int = 2
    seed: int = 0
    checkpoint_every: int = 250
    validate_every: int = 1000
    usiigaci_weight: float = 0.35  # fraction of samples from the (few, large) Usiigaci images
    mask_seed_prob: float = 0.2  # samples that start from a perturbed mask instead of clicks only
    frozen_blocks: int = 3  # keep the ImageNet stem and first Lite0 blocks fixed: saves most of the backward cost


def lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (1 - min(progress, 1.0)) ** 0.9  # poly decay


def sample_rounds(rng: np.random.Generator, cfg: TrainConfig) -> int:
    p = cfg.round_decay ** np.arange(cfg.max_rounds + 1)
    return int(rng.choice(len(p), p=p / p.sum()))


def first_clicks(target: np.ndarray, rng: np.random.Generator) -> list[tuple[int, int, bool]]:
    if rng.random() < 0.7:
        _, y, x = deepest_point(target)
        return [(y, x, True)]
    clicks = [(*random_interior_point(target, rng), True)]
    background = ~target
    for _ in range(int(rng.integers(0, 3))):
        if background.any():
            clicks.append((*random_interior_point(background, rng, min_depth=4.0), False))
    return clicks


def perturbed_mask(target: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The object as a neighbouring slice might show it: shifted, grown or shrunk, and
    sometimes with a blob missing or added."""
    from scipy import ndimage

    ys, xs = np.nonzero(target)
    extent = max(1, int(np.ptp(ys)) + 1, int(np.ptp(xs)) + 1)
    limit = max(1, int(0.12 * extent))
    mask = np.roll(target, (int(rng.integers(-limit, limit + 1)), int(rng.integers(-limit, limit + 1))), (0, 1))
    steps = int(rng.integers(-max(1, extent // 10), max(1, extent // 10) + 1))
    if steps > 0:
        mask = ndimage.binary_dilation(mask, iterations=steps)
    elif steps < 0:
        eroded = ndimage.binary_erosion(mask, iterations=-steps)
        mask = eroded if eroded.any() else mask
    return mask


class Trainer:
    def __init__(self, model: Inter2Former, sampler: CropSampler, cfg: TrainConfig, out_dir: Path, device: str = "cpu"):
        self.model = model.to(device)
        self.sampler = sampler
        self.cfg = cfg
        self.out = Path(out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.device = device
        self.rng = np.random.default_rng(cfg.seed + 1)
        self.frozen = freeze_early_encoder(model, cfg.frozen_blocks)
        trainable = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.step = 0
        self.best_score = math.inf
        self.log = open(self.out / "log.jsonl", "a")

    # ----- checkpoints (plain tensors and numbers only: loadable with weights_only=True)
    def save_checkpoint(self) -> None:
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "best_score": self.best_score}
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "last.pt")
        save_model(self.model, self.out / "last.safetensors", {"step": str(self.step)})

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.step = int(state["step"])
        self.best_score = float(state["best_score"])
        self.sampler.rng = np.random.default_rng(self.cfg.seed + self.step)
        self.rng = np.random.default_rng(self.cfg.seed + 1 + self.step)
        return True

    # ----- one step
    def _simulate(self, features, targets_np, rounds):
        b, _, h, w = targets_np.shape
        ref = initial_reference_map(h, w, (b,))
        radius = self.model.config.click_radius
        for i in range(b):
            clicks = first_clicks(targets_np[i, 0], self.rng)
            if self.rng.random() < self.cfg.mask_seed_prob:
                # Start from a neighbouring slice's mask (the widget's carry, or editing a label).
                ref[i] = seed_reference_map(perturbed_mask(targets_np[i, 0], self.rng))
                if self.rng.random() < 0.5:
                    clicks = []  # mask-only: the carry case
            for y, x, positive in clicks:
                paint_click(ref[i], y, x, positive, radius)
        if rounds == 0:
            return ref
        detached = type(features)(features.tokens.detach(), tuple(e.detach() for e in features.edges))
        for _ in range(rounds):
            with torch.no_grad():
                out = self.model.decode(detached, ref.to(self.device), fast=False)
            pred = (out.logits[:, 0] > 0).cpu()
            ref = update_reference_map(ref, pred)
            pred_np = pred.numpy()
            for i in range(b):
                click = next_click(targets_np[i, 0], pred_np[i])
                if click is not None:
                    paint_click(ref[i], click[0], click[1], click[2], radius)
        return ref

    def train_step(self) -> dict:
        cfg = self.cfg
        self.model.train()
        for module in self.frozen:
            module.eval()  # frozen BatchNorm keeps its ImageNet statistics
        images, targets = self.sampler.batch(cfg.batch)
        images, targets_dev = images.to(self.device), targets.to(self.device)
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(self.step, cfg)
        features = self.model.encode(images)
        rounds = sample_rounds(self.rng, cfg)
        ref = self._simulate(features, targets.numpy(), rounds)
        out = self.model.decode(features, ref.to(self.device), fast=False)
        coarse_target = F.adaptive_avg_pool2d(targets_dev.float(), out.coarse_logits.shape[-2:]) > 0.5
        loss_full = normalized_focal_loss(out.logits, targets_dev)
        loss_coarse = normalized_focal_loss(out.coarse_logits, coarse_target)
        loss = loss_full + cfg.coarse_weight * loss_coarse + out.commit_loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.model.update_balance_biases()
        with torch.no_grad():
            pred = out.logits > 0
            inter = (pred & targets_dev).sum((1, 2, 3)).float()
            union = (pred | targets_dev).sum((1, 2, 3)).float().clamp(min=1)
        self.step += 1
        return {"step": self.step, "loss": float(loss.detach()), "full": float(loss_full.detach()), "coarse": float(loss_coarse.detach()),
                "commit": float(out.commit_loss.detach()), "rounds": rounds, "iou": float((inter / union).mean()),
                "lr": lr_at(self.step - 1, cfg)}

    def fit(self, validate=None, progress: bool = True) -> None:
        """Train to cfg.steps; `validate(model) -> (score, dict)` (lower is better) picks best.safetensors."""
        from tqdm import tqdm

        bar = tqdm(total=self.cfg.steps, initial=self.step, disable=not progress, dynamic_ncols=True)
        started = time.time()
        recent: list[dict] = []
        while self.step < self.cfg.steps:
            stats = self.train_step()
            recent = (recent + [stats])[-50:]
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean([r['loss'] for r in recent]):.3f}",
                            iou=f"{np.mean([r['iou'] for r in recent]):.3f}")
            if self.step % 25 == 0:
                stats["elapsed_s"] = time.time() - started
                self.log.write(json.dumps(stats) + "\n")
                self.log.flush()
            if self.step % self.cfg.checkpoint_every == 0 or self.step == self.cfg.steps:
                self.save_checkpoint()
            if validate is not None and (self.step % self.cfg.validate_every == 0 or self.step == self.cfg.steps):
                self.model.eval()
                score, info = validate(self.model)
                info.update(step=self.step, score=score)
                self.log.write(json.dumps({"validation": info}) + "\n")
                self.log.flush()
                if score < self.best_score:
                    self.best_score = score
                    save_model(self.model, self.out / "best.safetensors",
                               {"step": str(self.step), "validation": json.dumps(info), "train_config": json.dumps(asdict(self.cfg))})
                self.save_checkpoint()
        bar.close()


def freeze_early_encoder(model: Inter2Former, blocks: int) -> list[torch.nn.Module]:
    """Stop gradients into the stem and the first `blocks` encoder blocks; returns the frozen modules."""
    if blocks <= 0:
        return []
    enc = model.encoder
    frozen = [enc._conv_stem, enc._bn0, *enc._blocks[:blocks]]
    for module in frozen:
        for p in module.parameters():
            p.requires_grad_(False)
    return frozen


def build_model(imagenet_init: bool, seed: int = 0) -> Inter2Former:
    torch.manual_seed(seed)
    model = Inter2Former(Inter2FormerConfig())
    if imagenet_init:
        from .imagenet_init import lite0_state_dict

        loaded = model.encoder.load_imagenet(lite0_state_dict())
        print(f"loaded {loaded} ImageNet EfficientNet-Lite0 tensors into the encoder")
    return model
