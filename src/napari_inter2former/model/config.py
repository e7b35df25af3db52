"""Hyper-parameters of the Inter2Former model, kept in one frozen dataclass.

The config travels with the weights (as JSON in the safetensors metadata), so a
weights file always rebuilds the network it was trained with.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass


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
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown config keys in weights file: {sorted(unknown)}")
        for key in ("edge_channels", "upsample_channels"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)
