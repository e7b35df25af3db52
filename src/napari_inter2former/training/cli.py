"""`napari-inter2former train`: iterative click training with checkpoints and resume."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path


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


def run(args) -> int:
    import torch

    from ..model import load_model
    from .dataset import CropSampler, load_folder
    from .trainer import TrainConfig, Trainer, build_model, extend_model

    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)})
    if args.val and not Path(args.val).is_dir():
        # Found out now, not at the first validation an hour of training later.
        raise FileNotFoundError(f"validation folder not found: {args.val} (pass --val '' to train without it)")
    torch.set_num_threads(cfg.threads)
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        # Fixed crop sizes: let cuDNN pick its fastest kernels; TF32 matmuls are ample for training.
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    images = [im for folder in args.data for im in load_folder(folder)]
    print(f"training on {len(images)} images, {sum(len(i.objects) for i in images)} objects, device {device}, "
          f"{cfg.threads} threads")
    sampler = CropSampler(images, crop=cfg.crop, seed=cfg.seed, zoom_matched=cfg.zoom_matched,
                          degrade=cfg.degrade, blur_sigma=cfg.blur_sigma, shading=cfg.shading,
                          touching_weight=cfg.touching_weight,
                          subset_weights={"usiigaci": cfg.usiigaci_weight, "dsb": 1 - cfg.usiigaci_weight})
    if args.init_weights:
        model = load_model(args.init_weights).train()
        if args.trunk and args.trunk != model.config.trunk:
            from .trunk_swap import swap_trunk

            model = swap_trunk(model, args.trunk)
    else:
        model = build_model(args.imagenet_init, cfg.seed, args.trunk or "lite0")
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
    return 0
