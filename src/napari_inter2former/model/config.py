"""Hyper-parameters of the Inter2Former model, kept in one frozen dataclass.

The config travels with the weights (as JSON in the safetensors metadata), so a
weights file always rebuilds the network it was trained with.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

# (least, most) of each number a weights file may give: outside them the file would fail deep
# inside torch at the first click (or build a model for hours). None: no bound that side.
_LIMITS = {
    "token_stride": (1, 64), "dim": (1, 4096), "attn_dim": (1, 4096), "num_blocks": (0, 64),
    "rope_base": (1e-6, None), "bsq_bits": (1, 16), "num_experts": (1, 256), "expert_hidden": (1, 16384),
    "prompt_embed_dim": (1, 1024), "edge_channels": (1, 4096), "upsample_channels": (1, 4096),
    "click_radius": (0, 64), "dlu_refine_blocks": (0, 64), "neck_blocks": (0, 64),
}


def _value_problem(value, default, limits) -> str | None:
    """What is wrong with a config value, judged by its field's default (type) and limits."""
    if isinstance(default, tuple):
        if not isinstance(value, list) or len(value) != len(default):
            return f"must be a list of {len(default)} numbers, got {value!r}"
        return next(filter(None, (_value_problem(v, default[0], limits) for v in value)), None)
    if isinstance(default, bool) or isinstance(default, str):
        return None if type(value) is type(default) else f"must be a {type(default).__name__}, got {value!r}"
    kinds = (int,) if isinstance(default, int) else (int, float)  # an int is a fine float
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        return f"must be {'an integer' if kinds == (int,) else 'a finite number'}, got {value!r}"
    if limits is None:
        return None
    low, high = limits
    if high is None and value < low:
        return f"must be at least {low}, got {value!r}"
    if high is not None and not low <= value <= high:
        return f"must be between {low} and {high}, got {value!r}"
    return None


@dataclass(frozen=True)
class Inter2FormerConfig:
    # Token grid: stride 8 keeps several tokens on an 8-30 px nucleus.
    token_stride: int = 8
    dim: int = 64  # token width
    attn_dim: int = 32  # one narrow attention head, as in the paper
    num_blocks: int = 2
    rope_base: float = 100.0
    # BSQ: S-bit codes, 2**S buckets.
    bsq_bits: int = 8
    # HMoE: one shared SwiGLU expert plus top-1 of `num_experts` routed ones.
    num_experts: int = 8
    expert_hidden: int = 64
    # DPE: embedding width of the 5 reference-map states.
    prompt_embed_dim: int = 16
    # Edge branch channels at strides 1, 2, 4.
    edge_channels: tuple[int, int, int] = (8, 16, 16)
    # Upsampler channels after the stride 4, 2, 1 stages.
    upsample_channels: tuple[int, int, int] = (32, 16, 16)
    # Click disks painted into the reference map (px). The paper uses 5; on 10-20 px nuclei a
    # corrective click lands 1-3 px from the boundary and a radius-5 disk crosses it.
    click_radius: int = 2
    # Coarse logit above which a token belongs to the DLU box.
    dlu_threshold: float = -2.0
    # Logit written outside the DLU box ("certain background").
    background_logit: float = -30.0
    # Also feed R itself (one-hot, pooled to strides 4, 2, 1) to the upsampler stages. The
    # paper's DLU sees R only through the stride-8 tokens; a 10-20 px nucleus needs the
    # previous mask and the click disks at pixel resolution to move an edge by one pixel.
    dlu_reference: bool = False
    # Residual 3x3 conv blocks at full resolution after the last upsampling stage: more capacity
    # where the outline is drawn. Each block's last conv starts at zero, so adding blocks keeps
    # a trained model's function.
    dlu_refine_blocks: int = 0
    # Residual blocks on the stride-8 tokens at the end of the encoder (capacity for fine
    # features; each starts as an identity, so adding blocks keeps a trained model's function).
    neck_blocks: int = 0
    # EfficientNet-Lite variant of the encoder trunk ("lite0" or "lite1"; see model/encoder.py).
    # Files written before this field existed are Lite0.
    trunk: str = "lite0"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Inter2FormerConfig":
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError(f"the config must be a JSON object, got {type(raw).__name__}")
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        unknown = set(raw) - set(defaults)
        if unknown:
            raise ValueError(f"unknown config keys in weights file: {sorted(unknown)}")
        for key, value in raw.items():
            problem = _value_problem(value, defaults[key], _LIMITS.get(key))
            if problem:
                raise ValueError(f"config key {key!r} {problem}")
        for key in ("edge_channels", "upsample_channels"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)
