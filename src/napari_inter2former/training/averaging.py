"""Uniform weight averaging of checkpoints from one run (a "soup" of snapshots).

Snapshots along one fine-tuning run sit in one basin of the loss; their mean is
usually flatter and generalises at least as well as any single one, and it needs no
choice of "best" snapshot on a small validation set. Integer tensors (none at the
time of writing) are taken from the last file.

    python -m napari_inter2former.training.averaging OUT.safetensors A.safetensors B.safetensors ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from ..model import Inter2Former, load_model
from ..model.weights import WeightsError, save_model


def average_weights(paths: list[str | Path]) -> Inter2Former:
    """A model whose floating-point tensors are the mean of those in `paths` (same config)."""
    if not paths:
        raise ValueError("nothing to average")
    models = [load_model(p) for p in paths]
    config = models[0].config
    for path, model in zip(paths, models):
        if model.config != config:
            raise WeightsError(f"{path} has another model config than {paths[0]}")
    states = [m.state_dict() for m in models]
    mean = {}
    for key, last in states[-1].items():
        if last.is_floating_point():
            mean[key] = torch.stack([s[key].float() for s in states]).mean(dim=0).to(last.dtype)
        else:
            mean[key] = last
    models[-1].load_state_dict(mean)  # same config: reuse the last model rather than build another
    return models[-1].eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="averaged .safetensors to write")
    parser.add_argument("inputs", nargs="+", help=".safetensors files of one run")
    parser.add_argument("--force", action="store_true", help="replace an existing output file")
    args = parser.parse_args(argv)
    if Path(args.out).exists() and not args.force:
        # `averaging run/*.safetensors` makes the first match (last.safetensors) the output.
        parser.exit(2, f"{parser.prog}: error: {args.out} exists (pass --force to replace it); the output comes "
                       "first, e.g. averaging run/mean.safetensors run/snapshot-*.safetensors run/last.safetensors\n")
    if any(Path(p).resolve() == Path(args.out).resolve() for p in args.inputs):
        parser.exit(2, f"{parser.prog}: error: the output {args.out} is also an input\n")
    # Found before all inputs are read, not when the mean is written.
    if Path(args.out).is_dir():
        parser.exit(2, f"{parser.prog}: error: the output {args.out} is a folder: name the .safetensors file to write\n")
    ancestor = next(p for p in Path(args.out).parents if p.exists())
    if not ancestor.is_dir():
        parser.exit(2, f"{parser.prog}: error: cannot write {args.out}: {ancestor} is a file\n")
    try:
        model = average_weights(args.inputs)
        save_model(model, args.out, {"averaged_from": ", ".join(Path(p).name for p in args.inputs)})
    except (WeightsError, OSError) as exc:  # a missing or corrupt input, an unwritable output
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    print(f"wrote the mean of {len(args.inputs)} files to {args.out}")


if __name__ == "__main__":
    main()
