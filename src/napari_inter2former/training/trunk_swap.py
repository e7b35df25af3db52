"""Put a different ImageNet trunk under a trained model.

The EfficientNet-Lite trunks share their stage widths (model/encoder.py), so a trained
Lite0 model's neck, edge branch and decoder fit a Lite1 trunk unchanged. Only the trunk
(stem and MBConv blocks) starts from ImageNet; everything after it keeps what it learned,
which is a far better start than training the decoder from scratch on new features.

    python -m napari_inter2former.training.trunk_swap IN.safetensors OUT.safetensors --trunk lite1

writes such a starting file, e.g. for a GPU machine that cannot install the ImageNet package:
pass it to `train --init-weights`. `--half` stores it as float16 (2.8 MB instead of 5.6 MB
for Lite1), so that it travels with the packed training data within a device call's 64 MiB.
"""

from __future__ import annotations

import argparse
import dataclasses

from ..model import Inter2Former, load_model, save_model
from ..model.encoder import TRUNKS

TRUNK_PREFIXES = ("encoder._conv_stem.", "encoder._bn0.", "encoder._blocks.")


def is_trunk_tensor(name: str) -> bool:
    return name.startswith(TRUNK_PREFIXES)


def swap_trunk(model: Inter2Former, trunk: str, imagenet: dict | None = None) -> Inter2Former:
    """A model with trunk `trunk`: the trunk from the ImageNet state dict `imagenet` (by default
    the one in the `train` extra's package), every other tensor copied from `model`."""
    if imagenet is None:
        from .imagenet_init import imagenet_state_dict

        imagenet = imagenet_state_dict(trunk)
    swapped = Inter2Former(dataclasses.replace(model.config, trunk=trunk))
    kept = {k: v for k, v in model.state_dict().items() if not is_trunk_tensor(k)}
    result = swapped.load_state_dict(kept, strict=False)
    if result.unexpected_keys or any(not is_trunk_tensor(k) for k in result.missing_keys):
        raise ValueError(f"models differ outside the trunk: {result.unexpected_keys[:5]} {result.missing_keys[:5]}")
    trunk_tensors = sum(is_trunk_tensor(k) for k in swapped.state_dict())
    loaded = swapped.encoder.load_imagenet(imagenet)
    if loaded != trunk_tensors:
        raise ValueError(f"the ImageNet weights fill {loaded} of the {trunk} trunk's {trunk_tensors} tensors")
    print(f"{trunk} trunk from ImageNet ({loaded} tensors); {len(kept)} trained tensors kept")
    return swapped.train(model.training)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="put an ImageNet EfficientNet-Lite trunk under a trained model")
    parser.add_argument("source", help="trained .safetensors")
    parser.add_argument("out", help=".safetensors to write")
    parser.add_argument("--trunk", choices=TRUNKS, default="lite1")
    parser.add_argument("--half", action="store_true", help="store the tensors as float16")
    args = parser.parse_args(argv)
    model = swap_trunk(load_model(args.source), args.trunk)
    save_model(model, args.out, {"trunk_swapped_from": str(args.source)}, half=args.half)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
