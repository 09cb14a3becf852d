"""Encoders (towers): `hf` backbones built from configs, `bow` and `features` MLPs, and named presets."""

from __future__ import annotations

from typing import Any

from torch import nn

from .hf_encoder import HFEncoder, config_from_dict, encoder_output_dim, pool_outputs
from .mlp_encoder import MLPEncoder
from .specs import ENCODER_KINDS, POOLING_MODES, validate_encoder_spec


def build_encoder(spec: dict[str, Any]) -> nn.Module:
    """Build a tower from a validated encoder spec; the module has an ``output_dim`` attribute.

    Example:
        >>> build_encoder({"kind": "bow", "input_dim": 50, "hidden_dims": [8], "dropout": 0.0}).output_dim
        8
    """
    if spec["kind"] == "hf":
        return HFEncoder(spec)
    return MLPEncoder(spec)


__all__ = [
    "ENCODER_KINDS",
    "POOLING_MODES",
    "HFEncoder",
    "MLPEncoder",
    "build_encoder",
    "config_from_dict",
    "encoder_output_dim",
    "pool_outputs",
    "validate_encoder_spec",
]
