"""Saving and loading weights as safetensors, with the config in the metadata.

Never unpickles anything. Every failure (missing file, truncated or corrupt
file, wrong tensors) raises WeightsError with the path and the reason.
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import Inter2FormerConfig
from .inter2former import Inter2Former


class WeightsError(RuntimeError):
    """A weights file is missing, unreadable or does not fit the model."""


def save_model(model: Inter2Former, path: str | Path, extra_metadata: dict[str, str] | None = None,
               half: bool = False) -> None:
    """half: store floating tensors as float16 (half the size; loading casts them back), for
    starting files that must fit a device call's size limit."""
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    if half:
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    metadata = {"config": model.config.to_json(), **(extra_metadata or {})}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=metadata)
    # safetensors writes through a private temporary file (mode 0600); weights are meant to be
    # shared, so give the file the mode any new file gets here.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def read_metadata(path: str | Path) -> dict[str, str]:
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return dict(handle.metadata() or {})


def load_model(path: str | Path, map_location: str = "cpu") -> Inter2Former:
    """Build the model described by a weights file and load its tensors (eval mode)."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if path.is_dir():
        raise WeightsError(f"weights path {path} is a folder: pass the .safetensors file")
    if not path.is_file():
        raise WeightsError(f"weights file not found: {path}")
    if path.suffix in (".pt", ".pth", ".ckpt"):
        # Training checkpoints are pickles, which this loader never opens; their weights sit beside them.
        raise WeightsError(f"{path} is a training checkpoint, not a weights file: pass the .safetensors "
                           "file written next to it")
    try:
        metadata = read_metadata(path)
        state = load_file(str(path), device=map_location)
    except (SafetensorError, OSError, ValueError) as err:
        raise WeightsError(f"weights file {path} is corrupt or truncated: {err}") from err
    if "config" not in metadata:
        raise WeightsError(f"weights file {path} has no model config in its metadata")
    try:
        config = Inter2FormerConfig.from_json(metadata["config"])
        model = Inter2Former(config)
    except (ValueError, TypeError, RuntimeError, ArithmeticError) as err:  # RuntimeError: torch on a negative size
        raise WeightsError(f"weights file {path} has an invalid config: {err}") from err
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    wrong = sorted(k for k in set(own) & set(state) if own[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        raise WeightsError(
            f"weights file {path} does not match the model: missing {missing[:5]}, "
            f"unexpected {unexpected[:5]}, wrong shape {wrong[:5]}"
        )
    # A diverged training run writes NaN; float parameters stored as integers lost their values.
    kinds = sorted(k for k in own if own[k].is_floating_point() != state[k].is_floating_point())
    if kinds:
        raise WeightsError(f"weights file {path} stores {kinds[:5]} with the wrong kind of number (integer "
                           "against floating point)")
    bad = sorted(k for k, v in state.items() if v.is_floating_point() and not bool(v.isfinite().all()))
    if bad:
        raise WeightsError(f"weights file {path} holds NaN or infinite values in {bad[:5]}: the run that "
                           "wrote it diverged")
    model.load_state_dict(state)
    return model.eval()
