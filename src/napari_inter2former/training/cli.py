"""`napari-inter2former train`: iterative click training with checkpoints and resume."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from ..cli import below_minimum


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..model.encoder import TRUNKS
    from .trainer import TrainConfig

    parser.add_argument("--data", nargs="+", default=["../shared/data/train"],
                        help="training folders, or .npz files made by `python -m napari_inter2former.training.packed_data` "
                             "(default: %(default)s)")
    parser.add_argument("--val", default="../shared/data/val",
                        help="validation folder, checked at start ('' to skip; default: %(default)s)")
    parser.add_argument("--val-per-image", type=int, default=3, help="val objects per image (default: %(default)s)")
    parser.add_argument("--val-limit", type=int, default=None, help="at most this many val images")
    parser.add_argument("--out", default="runs/default", help="run folder (checkpoints, log; default: %(default)s)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    parser.add_argument("--imagenet-init", action="store_true", help="init the encoder trunk from ImageNet")
    parser.add_argument("--trunk", choices=TRUNKS, default=None,
                        help="encoder trunk (default lite0). With --init-weights of another trunk, that model's "
                             "neck and decoder are kept and the new trunk starts from ImageNet")
    parser.add_argument("--init-weights", default=None, help="start from a .safetensors model")
    parser.add_argument("--dlu-reference", action="store_true",
                        help="feed R to the upsampler at full resolution (extends --init-weights models without it)")
    parser.add_argument("--dlu-refine", type=int, default=0,
                        help="add this many full-resolution refine blocks to the upsampler (identity at start; "
                             "extends --init-weights models that have fewer)")
    parser.add_argument("--neck-blocks", type=int, default=0,
                        help="add this many residual blocks on the encoder's stride-8 tokens (identity at start; "
                             "extends --init-weights models that have fewer)")
    parser.add_argument("--grow-blocks", type=int, default=0,
                        help="grow the token decoder to this many DHA blocks (new ones start as identities)")
    parser.add_argument("--grow-expert-hidden", type=int, default=0,
                        help="widen every HMoE expert to this hidden size (new units start switched off)")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: cuda if available)")
    parser.add_argument("--no-progress", action="store_true")
    for field in dataclasses.fields(TrainConfig):
        parser.add_argument(f"--{field.name.replace('_', '-')}", type=type(field.default), default=field.default,
                            help=f"TrainConfig.{field.name} in training/trainer.py (default: %(default)s)")


def _error(message: str) -> int:
    print(f"napari-inter2former train: error: {message}", file=sys.stderr)
    return 2


def _option_problem(cfg) -> str | None:
    """The first option out of range, found before any data is read."""
    problem = below_minimum(cfg, [(name, 1) for name in ("steps", "batch", "checkpoint_every", "validate_every",
                                                         "log_every", "threads")])
    if problem:
        return problem
    if cfg.crop < 32 or cfg.crop % 16:
        return f"--crop must be a multiple of 16 of at least 32 (the encoder's stride), got {cfg.crop}"
    for name in ("seed", "time_budget", "snapshots", "warmup", "max_rounds", "frozen_blocks", "data_workers",
                 "click_workers", "lr", "weight_decay", "coarse_weight", "iou_weight", "degrade", "blur_sigma",
                 "touching_weight", "neighbour_weight"):
        if getattr(cfg, name) < 0:
            return f"--{name.replace('_', '-')} cannot be negative, got {getattr(cfg, name)}"
    for name in ("usiigaci_weight", "zoom_matched", "mask_seed_prob", "round_decay", "shading",
                 "straight_cuts", "outlines", "match_native"):
        if not 0 <= getattr(cfg, name) <= 1:
            return f"--{name.replace('_', '-')} must be between 0 and 1, got {getattr(cfg, name)}"
    return None


def _val_problem(folder: str, limit: int | None) -> str | None:
    """Why the validation data cannot be used, found before training rather than at the first
    validation; None if it can. Unusable images (blank) are skipped there, but not all of them."""
    from ..evaluation.data import DataError, find_pairs, limit_pairs, load_pair
    from ..evaluation.evaluate import image_problem

    usable = False
    try:
        for pair in limit_pairs(find_pairs(folder), limit):
            item = load_pair(pair)  # one at a time: a val folder may be large
            usable = usable or item.volume or image_problem(item.image) is None
    except DataError as exc:
        return str(exc)
    return None if usable else "no usable image (constant, NaN or too small)"


def run(args) -> int:
    """Train; bad options and data are one-line errors (exit 2), Ctrl+C saves a checkpoint (exit 130)."""
    try:
        return _run(args)
    except (ValueError, ImportError) as exc:  # bad data, a missing extra, a checkpoint of another run
        return _error(str(exc))


def _run(args) -> int:
    import torch

    from ..model import load_model
    from .dataset import CropSampler, load_folder
    from .trainer import (
        TrainConfig,
        Trainer,
        build_model,
        checkpoint_model,
        extend_model,
    )

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    problem = _option_problem(cfg)
    if problem:
        return _error(problem)
    if cfg.snapshots and not cfg.time_budget:
        print("note: --snapshots are taken during a --time-budget run only; none will be written")
    if args.val and not Path(args.val).is_dir():
        # Found out now, not at the first validation an hour of training later.
        raise FileNotFoundError(f"validation folder not found: {args.val} (pass --val '' to train without it)")
    if args.val:
        problem = _val_problem(args.val, args.val_limit)
        if problem:
            return _error(f"--val {args.val}: {problem} (pass --val '' to train without it)")
    checkpoint = Path(args.out) / "last.pt"
    if checkpoint.exists() and not args.resume:
        return _error(f"{args.out} already holds a run (last.pt): pass --resume to continue it, or choose "
                      "another --out")
    if args.resume and not checkpoint.exists():
        print(f"note: nothing to resume in {args.out}: starting a new run")
    torch.set_num_threads(cfg.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        return _error(f"--device {device}: this torch has no usable CUDA device; use --device cpu")
    if not (device == "cpu" or device.startswith("cuda")):
        return _error(f"--device must be cpu or cuda, got {device!r}")
    if device.startswith("cuda"):
        # Fixed crop sizes: let cuDNN pick its fastest kernels; TF32 matmuls are ample for training.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    resumed_model = checkpoint_model(checkpoint) if args.resume and checkpoint.exists() else None
    # Loaded now, before the data is read: a bad file is named at once.
    initial = load_model(args.init_weights).train() if resumed_model is None and args.init_weights else None
    images = [im for folder in args.data for im in load_folder(folder)]
    print(f"training on {len(images)} images, {sum(len(i.objects) for i in images)} objects, device {device}, "
          f"{cfg.threads} threads")
    sampler = CropSampler(images, crop=cfg.crop, seed=cfg.seed, zoom_matched=cfg.zoom_matched,
                          degrade=cfg.degrade, blur_sigma=cfg.blur_sigma, shading=cfg.shading,
                          touching_weight=cfg.touching_weight, straight_cuts=cfg.straight_cuts,
                          outlines=cfg.outlines, match_native=cfg.match_native,
                          subset_weights={"usiigaci": cfg.usiigaci_weight, "dsb": 1 - cfg.usiigaci_weight})
    if resumed_model is not None:
        # The checkpoint's own model: the options that build or extend one are already in it.
        model = resumed_model.train()
        given = [name for name in ("init_weights", "imagenet_init", "trunk", "dlu_reference", "dlu_refine",
                                   "neck_blocks", "grow_blocks", "grow_expert_hidden") if getattr(args, name)]
        if given:
            print("note: resuming the checkpoint's own model; " + ", ".join("--" + n.replace("_", "-") for n in given)
                  + " ignored")
    else:
        model = _extended(args, _starting_model(args, cfg, initial, build_model), cfg, extend_model)
    trainer = Trainer(model, sampler, cfg, Path(args.out), device)
    if args.resume and trainer.resume():
        print(f"resumed at step {trainer.step}")
    validate = None
    if args.val:
        from ..evaluation.validation import evaluate_predictor
        from ..session import Predictor

        def validate(m):
            # The same protocol as the evaluation tool, on a fixed val subset; score = mean subset NoC@90.
            report = evaluate_predictor(Predictor(model=m.cpu()), args.val, max_per_image=args.val_per_image,
                                        limit_images=args.val_limit)
            m.to(device)
            subsets = report["subsets"]
            return sum(v["noc90"] for v in subsets.values()) / len(subsets), report

    trainer.fit(validate, progress=not args.no_progress)
    if trainer.interrupted:
        print(f"interrupted at step {trainer.step}: checkpoint saved in {args.out}; continue with the same "
              "command and --resume", file=sys.stderr)
        return 130
    return 0


def _starting_model(args, cfg, initial, build_model):
    """`initial`: the --init-weights model, loaded already (None: build one)."""
    if initial is None:
        return build_model(args.imagenet_init, cfg.seed, args.trunk or "lite0")
    if args.trunk and args.trunk != initial.config.trunk:
        from .trunk_swap import swap_trunk

        return swap_trunk(initial, args.trunk)
    return initial


def _extended(args, model, cfg, extend_model):
    """The model with the parts the options add (each a no-op when the model has them already)."""
    if args.dlu_reference and not model.config.dlu_reference:
        model = extend_model(model, dlu_reference=True)
    if args.dlu_refine > model.config.dlu_refine_blocks:
        model = extend_model(model, dlu_refine_blocks=args.dlu_refine)
    if args.neck_blocks > model.config.neck_blocks:
        model = extend_model(model, neck_blocks=args.neck_blocks)
    if args.grow_blocks > model.config.num_blocks or args.grow_expert_hidden > model.config.expert_hidden:
        from .decoder_growth import grow_token_decoder

        model = grow_token_decoder(model, max(args.grow_blocks, model.config.num_blocks),
                                   max(args.grow_expert_hidden, model.config.expert_hidden), seed=cfg.seed)
    return model
