"""The ``features`` tower kind: a precomputed feature vector (e.g. Wiki's SIFT histograms and LDA topics) into
an MLP.

Its processor side (`FeatureVectorSide`) checks the vectors' width and applies the transform fitted on the
training rows (`cmhash_hf.feature_transforms`), both stored in ``cmhash_processor.json``.

Example:
    >>> side = FeatureVectorSide(3, modality="image")
    >>> side([[1, 2, 3]])[0]["image_features"].tolist(), side.to_dict()["image_feature_dim"]
    ([[1.0, 2.0, 3.0]], 3)
    >>> FEATURES_KIND.encodes_raw_inputs
    False
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..feature_transforms import FeatureTransform
from .kinds import InputSide, register_tower_kind
from .mlp_encoder import MLPTowerKind, check_vectors


class FeatureVectorSide(InputSide):
    """Feature vectors → ``image_features`` / ``text_features``: checked for width, then transformed (when the
    side has a transform)."""

    kind = "features"
    mode = "features"
    arguments = {"image": "image_features", "text": "text_features"}

    def __init__(self, width: int, transform: FeatureTransform | None = None, modality: str = "image") -> None:
        super().__init__(modality)
        if transform is not None:
            transform.check_width(width, f"{modality}_feature_transform")
        self.width = width
        self.transform = transform

    @property
    def takes(self) -> str:  # type: ignore[override]
        return f"feature vectors of width {self.width}"

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        vectors = check_vectors(values, self.width, self.argument)
        vectors = self.transform(vectors) if self.transform else vectors
        return {self.argument: vectors}, len(vectors)

    def to_dict(self) -> dict[str, Any]:
        return {f"{self.modality}_feature_dim": self.width,
                f"{self.modality}_feature_transform": self.transform.to_dict() if self.transform else None}

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "FeatureVectorSide":
        transform = settings.get(f"{modality}_feature_transform")
        return cls(settings[f"{modality}_feature_dim"], FeatureTransform.from_dict(transform) if transform else None,
                   modality)


class FeaturesTowerKind(MLPTowerKind):
    """``{"kind": "features", "input_dim": D, "hidden_dims": [..], "dropout": 0.0}``: a precomputed feature vector
    into an MLP."""

    name = "features"
    sides = (FeatureVectorSide,)
    vector_description = "precomputed feature vector"
    encodes_raw_inputs = False


FEATURES_KIND = register_tower_kind(FeaturesTowerKind())
