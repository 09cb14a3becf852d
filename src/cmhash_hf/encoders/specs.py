"""Encoder specs: the plain dicts in a config that say how to build each tower.

Example:
    >>> spec = validate_encoder_spec({"kind": "features", "input_dim": 128}, "image")
    >>> spec["hidden_dims"], spec["dropout"]
    ([512], 0.0)
"""

from __future__ import annotations

import copy
from typing import Any

ENCODER_KINDS = ("hf", "bow", "features")
POOLING_MODES = ("auto", "pooler", "cls", "mean")

#: The tiny random ViT used when a config names no image encoder (tests, quick experiments).
TINY_VIT = {
    "model_type": "vit",
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "image_size": 32,
    "patch_size": 8,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}

#: The tiny random BERT used when a config names no text encoder; vocab_size follows the tokenizer.
TINY_BERT = {
    "model_type": "bert",
    "vocab_size": 1000,
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "intermediate_size": 128,
    "max_position_embeddings": 64,
    "hidden_dropout_prob": 0.0,
    "attention_probs_dropout_prob": 0.0,
}


def default_image_encoder_spec() -> dict[str, Any]:
    """The image tower of a config that names none: a tiny random ViT on 32×32 pictures."""
    return {"kind": "hf", "config": copy.deepcopy(TINY_VIT), "pooling": "auto"}


def default_text_encoder_spec() -> dict[str, Any]:
    """The text tower of a config that names none: a tiny random BERT."""
    return {"kind": "hf", "config": copy.deepcopy(TINY_BERT), "pooling": "auto"}


def validate_encoder_spec(spec: Any, modality: str) -> dict[str, Any]:
    """Check an encoder spec and fill its defaults; raise `ValueError` naming the problem.

    Args:
        spec: the dict from the config (``kind`` plus the kind's fields).
        modality: ``"image"`` or ``"text"``, used in error messages.

    Returns:
        A new dict with every field present.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"The {modality} encoder spec must be a dict, got {type(spec).__name__}.")
    kind = spec.get("kind")
    if kind not in ENCODER_KINDS:
        raise ValueError(f"The {modality} encoder kind must be one of {ENCODER_KINDS}, got {kind!r}.")
    spec = copy.deepcopy(spec)
    if kind == "hf":
        config = spec.get("config")
        if not isinstance(config, dict) or "model_type" not in config:
            raise ValueError(
                f"An 'hf' {modality} encoder spec needs 'config': a transformers config dict with a 'model_type'."
            )
        spec.setdefault("pooling", "auto")
        if spec["pooling"] not in POOLING_MODES:
            raise ValueError(f"The {modality} encoder pooling must be one of {POOLING_MODES}, got {spec['pooling']!r}.")
        spec.setdefault("name_or_path", None)
    else:
        input_dim = spec.get("input_dim")
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
            raise ValueError(f"A {kind!r} {modality} encoder spec needs a positive integer 'input_dim', got {input_dim!r}.")
        hidden_dims = spec.setdefault("hidden_dims", [512])
        if not isinstance(hidden_dims, list) or not all(isinstance(d, int) and d > 0 for d in hidden_dims):
            raise ValueError(f"'hidden_dims' of the {modality} encoder must be a list of positive integers.")
        spec.setdefault("dropout", 0.0)
    return spec
