"""The one table the tower-kind conformance suite runs over: a row per (registered tower kind, processor side).

A new tower kind is tested by adding its rows here: a valid spec, a processor side, two raw items, and a bad
spec with the words its error must contain. ``tests/test_tower_kinds.py`` fails while a registered kind or one
of its sides has no row.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from cmhash_hf.encoders import BagOfWordsSide, FeatureVectorSide, InputSide, PixelSide, TokenSide
from cmhash_hf.encoders.hf_encoder import make_image_processor
from cmhash_hf.encoders.specs import TINY_BERT, default_image_encoder_spec
from cmhash_hf.feature_transforms import FeatureTransform
from cmhash_hf.text_vocabulary import train_wordpiece_tokenizer

TEXTS = ["a red circle on the left", "two blue squares", "a green star", "a red square and a blue circle"]
WIDTH = 6


@dataclass(frozen=True)
class TowerCase:
    """One kind serving one modality through one of its processor sides."""

    kind: str
    modality: str
    spec: Callable[[], dict[str, Any]]
    side: Callable[[], InputSide]
    raw: Callable[[], Any]
    bad_spec: dict[str, Any]
    bad_message: str

    @property
    def id(self) -> str:
        return f"{self.kind}-{self.modality}-{self.side().mode}"


def _tokenizer():
    return train_wordpiece_tokenizer(TEXTS, vocab_size=80, max_length=12)


def _bert_spec() -> dict[str, Any]:
    config = copy.deepcopy(TINY_BERT)
    tokenizer = _tokenizer()
    config.update(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id)
    return {"kind": "hf", "config": config}


def _pictures() -> list[Image.Image]:
    rng = np.random.default_rng(0)
    return [Image.fromarray(rng.integers(0, 256, (20 + 4 * i, 24, 3), dtype=np.uint8)) for i in range(2)]


def _vectors() -> np.ndarray:
    return np.random.default_rng(1).normal(size=(2, WIDTH)).astype(np.float32)


def _fitted(modality: str) -> FeatureVectorSide:
    transform = FeatureTransform.fit(np.random.default_rng(2).random((10, WIDTH)), "standardize")
    return FeatureVectorSide(WIDTH, transform, modality)


TOWER_CASES: list[TowerCase] = [
    TowerCase("hf", "image", default_image_encoder_spec, lambda: PixelSide(make_image_processor(32)), _pictures,
              {"kind": "hf", "config": {"hidden_size": 8}}, "needs 'config': a transformers config dict"),
    TowerCase("hf", "text", _bert_spec, lambda: TokenSide(_tokenizer(), max_length=12), lambda: TEXTS[:2],
              {"kind": "hf", "config": {"model_type": "bert"}, "pooling": "max"}, "pooling must be one of"),
    TowerCase("bow", "text", lambda: {"kind": "bow", "input_dim": 5, "hidden_dims": [8]},
              lambda: BagOfWordsSide(["blue", "circle", "red", "square", "star"]), lambda: TEXTS[:2],
              {"kind": "bow", "input_dim": 0}, "'bow' text encoder spec needs a positive integer 'input_dim'"),
    TowerCase("features", "image", lambda: {"kind": "features", "input_dim": WIDTH, "hidden_dims": [8]},
              lambda: _fitted("image"), _vectors,
              {"kind": "features", "input_dim": WIDTH, "hidden_dims": [0]}, "must be a list of positive integers"),
    TowerCase("features", "text", lambda: {"kind": "features", "input_dim": WIDTH, "hidden_dims": [8]},
              lambda: FeatureVectorSide(WIDTH, None, "text"), _vectors,
              {"kind": "features", "input_dim": "6"}, "'features' text encoder spec needs a positive integer"),
]
