"""The ``bow`` tower kind: a binary bag-of-words vector (one column per vocabulary word) into an MLP.

The classic MIRFlickr / NUS-WIDE text protocol. Its processor side (`BagOfWordsSide`) holds the word list,
built from the training captions and saved as ``bow_vocabulary.json`` beside the processor.

Example:
    >>> side = BagOfWordsSide(["blue", "circle", "red"])
    >>> side(["a red circle"])[0]["text_features"].tolist()
    [[0.0, 1.0, 1.0]]
    >>> side.ignores("a green star"), BOW_KIND.input_names("text")
    (True, ('text_features',))
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..file_utils import atomic_write_text
from ..text_vocabulary import words_of
from .kinds import InputSide, check_texts, read_json_file, register_tower_kind, resolve_file
from .mlp_encoder import MLPTowerKind

BOW_VOCABULARY_FILE = "bow_vocabulary.json"


class BagOfWordsSide(InputSide):
    """Texts → ``text_features``: binary bag-of-words vectors over a fixed word list."""

    kind = "bow"
    mode = "bow"
    arguments = {"text": "text"}
    takes = "raw text"

    def __init__(self, vocabulary: Sequence[str], modality: str = "text") -> None:
        super().__init__(modality)
        self.vocabulary = list(vocabulary)
        self._index = {word: i for i, word in enumerate(self.vocabulary)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def bag_of_words(self, texts: Sequence[str]) -> np.ndarray:
        """Binary bag-of-words vectors (float32, one column per vocabulary word) of ``texts``."""
        vectors = np.zeros((len(texts), len(self.vocabulary)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words_of(text):
                column = self._index.get(word)
                if column is not None:
                    vectors[row, column] = 1.0
        return vectors

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        texts = check_texts(values)
        return {"text_features": self.bag_of_words(texts)}, len(texts)

    def ignores(self, value: Any) -> bool:
        return not self.bag_of_words([value]).any()

    def save(self, directory: Path) -> list[str]:
        atomic_write_text(directory / BOW_VOCABULARY_FILE, json.dumps(self.vocabulary))
        return [BOW_VOCABULARY_FILE]

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "BagOfWordsSide":
        return cls(read_json_file(resolve_file(source, BOW_VOCABULARY_FILE, hub_kwargs)), modality)

    def identity(self) -> str:
        return json.dumps(self.vocabulary)


class BagOfWordsTowerKind(MLPTowerKind):
    """``{"kind": "bow", "input_dim": V, "hidden_dims": [..], "dropout": 0.0}``: a bag-of-words vector of a
    V-word vocabulary into an MLP."""

    name = "bow"
    sides = (BagOfWordsSide,)
    vector_description = "bag-of-words vector"


BOW_KIND = register_tower_kind(BagOfWordsTowerKind())
