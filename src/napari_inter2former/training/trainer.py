"""Iterative click training of Inter2Former (the paper's recipe, on microscopy crops).

Each step: encode a batch of crops once; place first clicks (the deepest
point, or a random interior point plus random negatives); run k rounds without
gradient (P(k) ~ 0.6**k), each predicting, folding the prediction into R and
adding the RITM corrective click; then one decoder pass with gradient on the
final R. Loss: normalised focal loss on full-resolution and coarse logits plus
the BSQ commitment loss. After the step, the HMoE balancing biases move.

Crops and starting prompts come from `BatchStream` (optionally in data worker
processes), corrective clicks from `CorrectiveClicker` (optionally in a process
pool), and the reference maps live on the training device. With a time budget
the learning-rate schedule runs on elapsed time instead of steps, so a run on a
lent machine of fixed length still ends with a fully decayed learning rate.
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
from ..model.reference_map import paint_clicks, update_reference_map
from .batches import BatchStream, batch_iterator
from .corrective_clicks import CorrectiveClicker
from .dataset import CropSampler
from .losses import neighbour_weight_map, normalized_focal_loss, soft_iou_loss


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
    iou_weight: float = 0.0  # weight of a soft-IoU term on the full-resolution logits (0: focal loss only)
    hold_clicked: int = 0  # 1: corrective rounds give each clicked pixel its click's label, as the session does
    threads: int = 2
    seed: int = 0
    checkpoint_every: int = 250
    validate_every: int = 1000
    usiigaci_weight: float = 0.35  # fraction of samples from the (few, large) Usiigaci images
    zoom_matched: float = 0.5  # samples showing a small object magnified as the predictor decodes it
    match_native: float = 0.0  # of those matched samples whose object is not magnified: shown at the predictor's scale too
    degrade: float = 1.0  # scales the chances of inversion, blur and noise in the crops (0: none)
    blur_sigma: float = 0.0  # > 0: blur as Gaussian defocus, sigma up to this, instead of a 3x3 box
    shading: float = 0.0  # chance of a crop getting uneven illumination (a gain ramp)
    straight_cuts: float = 0.0  # chance of cutting the target by axis-aligned lines (dataset.straight_cuts)
    outlines: float = 0.0  # chance of showing a crop as its outlines only (dataset.outline_view)
    touching_weight: float = 1.0  # relative chance of a target that touches another object
    neighbour_weight: float = 1.0  # loss weight on other labelled objects' pixels (1: plain focal loss)
    mask_seed_prob: float = 0.2  # samples that start from a perturbed mask instead of clicks only
    frozen_blocks: int = 3  # keep the ImageNet stem and first Lite0 blocks fixed: saves most of the backward cost
    time_budget: float = 0.0  # seconds; > 0: stop then, and decay the learning rate over time, not steps
    snapshots: int = 0  # with a time budget: also keep weights at this many earlier points of the run
    data_workers: int = 0  # processes making batches (0: in the training process)
    click_workers: int = 0  # processes placing corrective clicks (0 or 1: in the training process)
    log_every: int = 25


def lr_at(step: int, cfg: TrainConfig, elapsed: float | None = None) -> float:
    """Linear warm-up over steps, then poly(0.9) decay over steps, or over `elapsed` seconds
    of the time budget when one is set."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if cfg.time_budget > 0 and elapsed is not None:
        progress = elapsed / cfg.time_budget
    else:
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (1 - min(progress, 1.0)) ** 0.9  # poly decay


def training_loss(out, targets: torch.Tensor, coarse_weight: float, iou_weight: float = 0.0,
                  others: torch.Tensor | None = None, neighbour_weight: float = 1.0):
    """(total, full-resolution focal, coarse focal) loss of a dense decode against (B, 1, H, W) bool
    targets: focal terms, BSQ commitment and the optional soft-IoU term. With `others` (the other
    labelled objects' pixels) and a `neighbour_weight` other than 1, those pixels weigh more."""
    coarse_size = out.coarse_logits.shape[-2:]
    coarse_target = F.adaptive_avg_pool2d(targets.float(), coarse_size) > 0.5
    full_w = coarse_w = None
    if others is not None and neighbour_weight != 1.0:
        full_w = neighbour_weight_map(others, neighbour_weight)
        coarse_w = neighbour_weight_map(others, neighbour_weight, coarse_size)
    loss_full = normalized_focal_loss(out.logits, targets, weight=full_w)
    loss_coarse = normalized_focal_loss(out.coarse_logits, coarse_target, weight=coarse_w)
    loss = loss_full + coarse_weight * loss_coarse + out.commit_loss
    if iou_weight > 0:
        loss = loss + iou_weight * soft_iou_loss(out.logits, targets)
    return loss, loss_full, loss_coarse


def mask_iou(pred: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-sample IoU of (B, 1, H, W) bool masks (an empty union counts as 0)."""
    inter = (pred & targets).sum((1, 2, 3)).float()
    return inter / (pred | targets).sum((1, 2, 3)).float().clamp(min=1)


def hold_clicked_pixels_batch(pred: torch.Tensor, clicks) -> torch.Tensor:
    """pred (B, H, W) bool with every clicked pixel set to its click's label (later clicks win).

    The batched form of the session's rule (`session.object_session.hold_clicked_pixels`).
    Without it, training rounds drift from inference on one-pixel error bands: the simulated
    user clicks the same unfollowed pixel again and again, where at inference that pixel is
    held and the next click moves along the band. clicks: (ys, xs, positive) per round, y < 0
    for "no click in this map".
    """
    pred = pred.clone()
    for ys, xs, positive in clicks:
        ys, xs, positive = ys.to(pred.device), xs.to(pred.device), positive.to(pred.device)
        rows = torch.nonzero(ys >= 0)[:, 0]
        pred[rows, ys[rows], xs[rows]] = positive[rows]
    return pred


def sample_rounds(rng: np.random.Generator, cfg: TrainConfig) -> int:
    p = cfg.round_decay ** np.arange(cfg.max_rounds + 1)
    return int(rng.choice(len(p), p=p / p.sum()))


class Trainer:
    def __init__(self, model: Inter2Former, sampler: CropSampler, cfg: TrainConfig, out_dir: Path, device: str = "cpu"):
        self.clicker = CorrectiveClicker(cfg.click_workers)  # forks: before CUDA is initialised
        self.model = model.to(device)
        self.sampler = sampler
        self.stream = BatchStream(sampler, cfg.batch, model.config.click_radius, cfg.mask_seed_prob, cfg.seed)
        self._batches = None
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
        self._started: float | None = None
        self._elapsed_before = 0.0  # training seconds of earlier sessions of this run (resume)
        self.interrupted = False  # fit() ended by Ctrl+C (a checkpoint was saved)

    # ----- checkpoints (plain tensors and numbers only: loadable with weights_only=True)
    def save_checkpoint(self) -> None:
        # The model's config and the run's options ride along (as JSON text): a resume rebuilds
        # the same model and continues the same time budget.
        state = {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                 "step": self.step, "best_score": self.best_score, "elapsed_s": self._elapsed() or 0.0,
                 "model_config": self.model.config.to_json(), "train_config": json.dumps(asdict(self.cfg))}
        tmp = self.out / "last.pt.tmp"
        torch.save(state, tmp)
        tmp.replace(self.out / "last.pt")
        save_model(self.model, self.out / "last.safetensors", {"step": str(self.step)})

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        state = load_checkpoint(path, self.device)
        self.model.load_state_dict(state["model"])
        try:
            self.optimizer.load_state_dict(state["optimizer"])
        except ValueError as exc:  # other trainable parameters, e.g. another --frozen-blocks
            raise ValueError(f"{path} was trained with other trainable layers ({exc}); resume with the same "
                             "--frozen-blocks") from None
        self.step = int(state["step"])
        self.best_score = float(state["best_score"])
        self._elapsed_before = float(state.get("elapsed_s", 0.0))
        self.sampler.rng = np.random.default_rng(self.cfg.seed + self.step)
        self.rng = np.random.default_rng(self.cfg.seed + 1 + self.step)
        self.stream.rng = np.random.default_rng(self.cfg.seed + 2 + self.step)
        return True

    # ----- one step
    def _next_batch(self):
        if self.cfg.data_workers <= 0:
            return self.stream.make_batch()  # in process: follows the sampler as it is now
        if self._batches is None:
            self._batches = batch_iterator(self.stream, self.cfg.data_workers, pin_memory=self.device != "cpu")
        return next(self._batches)

    def _corrective_rounds(self, features, ref, targets_np, rounds):
        """k rounds without gradient: predict, fold into R, add the simulated user's click."""
        if rounds == 0:
            return ref
        detached = type(features)(features.tokens.detach(), tuple(e.detach() for e in features.edges))
        radius = self.model.config.click_radius
        made = []  # the clicks of these rounds, (ys, xs, positive) per round
        for _ in range(rounds):
            with torch.no_grad():
                out = self.model.decode(detached, ref, fast=False)
            pred = out.logits[:, 0] > 0
            if self.cfg.hold_clicked:
                pred = hold_clicked_pixels_batch(pred, made)
            ref = update_reference_map(ref, pred)
            ys, xs, positive = self.clicker.clicks(targets_np, pred.cpu().numpy())
            made.append((ys, xs, positive))
            ref = paint_clicks(ref, ys, xs, positive, radius)
        return ref

    def train_step(self) -> dict:
        cfg = self.cfg
        self.model.train()
        for module in self.frozen:
            module.eval()  # frozen BatchNorm keeps its ImageNet statistics
        images, targets, ref, others = self._next_batch()
        nb = self.device != "cpu"
        images, targets_dev, ref, others = (t.to(self.device, non_blocking=nb) for t in (images, targets, ref, others))
        lr = lr_at(self.step, cfg, self._elapsed())
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        features = self.model.encode(images)
        rounds = sample_rounds(self.rng, cfg)
        ref = self._corrective_rounds(features, ref, targets[:, 0].numpy(), rounds)
        out = self.model.decode(features, ref, fast=False)
        loss, loss_full, loss_coarse = training_loss(out, targets_dev, cfg.coarse_weight, cfg.iou_weight,
                                                     others, cfg.neighbour_weight)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.optimizer.step()
        self.model.update_balance_biases()
        with torch.no_grad():
            iou = float(mask_iou(out.logits > 0, targets_dev).mean())
        self.step += 1
        return {"step": self.step, "loss": float(loss.detach()), "full": float(loss_full.detach()), "coarse": float(loss_coarse.detach()),
                "commit": float(out.commit_loss.detach()), "rounds": rounds, "iou": iou, "lr": lr}

    def _elapsed(self) -> float | None:
        """Training seconds of this run so far, earlier sessions included (the time budget's clock)."""
        return None if self._started is None else self._elapsed_before + time.time() - self._started

    def _done(self) -> bool:
        if self.cfg.time_budget > 0 and self._started is not None:
            return self._elapsed() >= self.cfg.time_budget
        return self.step >= self.cfg.steps

    def fit(self, validate=None, progress: bool = True) -> None:
        """Train to cfg.steps (or for cfg.time_budget seconds); `validate(model) -> (score, dict)`
        (lower is better) picks best.safetensors."""
        from tqdm import tqdm

        cfg = self.cfg
        timed = cfg.time_budget > 0
        bar = tqdm(total=None if timed else cfg.steps, initial=self.step, disable=not progress, dynamic_ncols=True)
        self._started = time.time()
        snapshot_at = [cfg.time_budget * (i + 1) / (cfg.snapshots + 1) for i in range(cfg.snapshots)] if timed else []
        snapshot_at = [t for t in snapshot_at if t > self._elapsed_before]  # taken before a resume
        recent: list[dict] = []
        try:
            while not self._done():
                stats = self.train_step()
                recent = (recent + [stats])[-50:]
                bar.update(1)
                bar.set_postfix(loss=f"{np.mean([r['loss'] for r in recent]):.3f}",
                                iou=f"{np.mean([r['iou'] for r in recent]):.3f}")
                if self.step % cfg.log_every == 0:
                    stats["elapsed_s"] = round(self._elapsed(), 1)
                    self.log.write(json.dumps(stats) + "\n")
                    self.log.flush()
                    if not progress:
                        print(f"step {self.step} {stats['elapsed_s']:.0f}s loss {np.mean([r['loss'] for r in recent]):.4f} "
                              f"iou {np.mean([r['iou'] for r in recent]):.3f} lr {stats['lr']:.2e}", flush=True)
                if snapshot_at and self._elapsed() >= snapshot_at[0]:
                    snapshot_at.pop(0)
                    save_model(self.model, self.out / f"snapshot-{self.step:06d}.safetensors",
                               {"step": str(self.step), "train_config": json.dumps(asdict(cfg))})
                finished = self._done()
                if self.step % cfg.checkpoint_every == 0 or finished:
                    self.save_checkpoint()
                if validate is not None and (self.step % cfg.validate_every == 0 or finished):
                    self.model.eval()
                    score, info = validate(self.model)
                    info.update(step=self.step, score=score)
                    self.log.write(json.dumps({"validation": info}) + "\n")
                    self.log.flush()
                    if score < self.best_score:
                        self.best_score = score
                        save_model(self.model, self.out / "best.safetensors",
                                   {"step": str(self.step), "validation": json.dumps(info), "train_config": json.dumps(asdict(cfg))})
                    self.save_checkpoint()
        except KeyboardInterrupt:  # Ctrl+C: keep what was trained, resumable
            self.save_checkpoint()
            self.interrupted = True
        finally:
            bar.close()
            self.clicker.close()


def load_checkpoint(path: Path, device: str = "cpu") -> dict:
    """A run's last.pt (tensors, numbers and JSON text only: loaded with weights_only=True)."""
    return torch.load(path, map_location=device, weights_only=True)


def checkpoint_model(path: Path) -> Inter2Former | None:
    """A model of the config a checkpoint was trained with (None for checkpoints that predate it)."""
    state = load_checkpoint(path)
    if "model_config" not in state:
        return None
    return Inter2Former(Inter2FormerConfig.from_json(state["model_config"]))


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


def build_model(imagenet_init: bool, seed: int = 0, trunk: str = "lite0") -> Inter2Former:
    torch.manual_seed(seed)
    model = Inter2Former(Inter2FormerConfig(trunk=trunk))
    if imagenet_init:
        from .imagenet_init import imagenet_state_dict

        loaded = model.encoder.load_imagenet(imagenet_state_dict(trunk))
        print(f"loaded {loaded} ImageNet EfficientNet-{trunk} tensors into the encoder")
    return model


def extend_model(model: Inter2Former, **changes) -> Inter2Former:
    """The model with config `changes` that only add parameters (e.g. dlu_reference=True),
    carrying over every trained tensor; the new parameters keep their initialisation."""
    import dataclasses

    extended = Inter2Former(dataclasses.replace(model.config, **changes))
    own, trained = extended.state_dict(), model.state_dict()
    misfits = [k for k, v in trained.items() if k not in own or own[k].shape != v.shape]
    if misfits:
        raise ValueError(f"config changes {changes} do not only add parameters (misfits: {misfits[:5]})")
    missing = extended.load_state_dict(trained, strict=False).missing_keys
    print(f"extended the model with {changes}: {len(missing)} new tensors")
    return extended.train(model.training)
