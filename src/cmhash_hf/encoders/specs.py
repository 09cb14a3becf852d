"""Encoder specs: the plain dicts in a config that say how to build each tower (checked by their kind), and the
default ones.

Example:
    >>> spec = validate_encoder_spec({"kind": "features", "input_dim": 128}, "image")
    >>> spec["hidden_dims"], spec["dropout"]
    ([512], 0.0)
"""

from __future__ import annotations

import copy
from typing import Any

from .kinds import validate_encoder_spec

__all__ = ["TINY_BERT", "TINY_VIT", "default_image_encoder_spec", "default_text_encoder_spec", "validate_encoder_spec"]

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
