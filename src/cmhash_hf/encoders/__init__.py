"""Encoders (towers): the registry of tower kinds and the built-in ones, named presets, pretrained starts.

Importing this package registers the built-in kinds: ``hf`` (`hf_encoder`), ``bow`` (`bow`), ``features``
(`features`); see `cmhash_hf.encoders.kinds` for what a kind owns and how to add one.
"""

from __future__ import annotations

from .kinds import (
    InputSide,
    TowerKind,
    build_encoder,
    get_tower_kind,
    kind_of,
    list_tower_kinds,
    register_tower_kind,
    side_class,
    validate_encoder_spec,
)
from .hf_encoder import POOLING_MODES, HFEncoder, PixelSide, TokenSide, config_from_dict, encoder_output_dim, pool_outputs
from .mlp_encoder import MLPEncoder, MLPTowerKind
from .bow import BagOfWordsSide
from .features import FeatureVectorSide

#: The names of the built-in tower kinds (`list_tower_kinds()` also lists kinds registered later).
ENCODER_KINDS = ("hf", "bow", "features")

__all__ = [
    "ENCODER_KINDS",
    "POOLING_MODES",
    "BagOfWordsSide",
    "FeatureVectorSide",
    "HFEncoder",
    "InputSide",
    "MLPEncoder",
    "MLPTowerKind",
    "PixelSide",
    "TokenSide",
    "TowerKind",
    "build_encoder",
    "config_from_dict",
    "encoder_output_dim",
    "get_tower_kind",
    "kind_of",
    "list_tower_kinds",
    "pool_outputs",
    "register_tower_kind",
    "side_class",
    "validate_encoder_spec",
]
