"""Transforms of precomputed feature vectors (``features`` modes), fitted on the training set.

Feature datasets such as Wiki ship histograms and topic proportions whose rows sum to 1, so a column's values
are tiny (Wiki's 128-d image histograms average 0.008) and an MLP tower on them barely learns. The processor
applies one of these transforms to each modality's vectors; its parameters are saved with the processor, so
queries at test time are transformed exactly as the training data was:

- ``standardize``: z-score each column with the training rows' mean and standard deviation (the default);
- ``sqrt``: the element-wise square root (the Hellinger map of a histogram: a row summing to 1 becomes a unit
  vector), for non-negative features;
- ``sqrt-standardize``: the square root, then z-scores;
- ``none``: the vectors as given.

Example:
    >>> import numpy as np
    >>> transform = FeatureTransform.fit(np.array([[0.0, 1.0], [4.0, 1.0]]), "sqrt-standardize")
    >>> transform.mean.tolist(), transform.std.tolist()
    ([1.0, 1.0], [1.0, 1.0])
    >>> transform(np.array([[9.0, 1.0]], dtype=np.float32)).tolist()
    [[2.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FEATURE_TRANSFORMS = ("standardize", "sqrt", "sqrt-standardize", "none")
#: A column whose training values never vary is only centred (divided by 1, not by ~0).
MIN_STD = 1e-6


@dataclass(frozen=True)
class FeatureTransform:
    """``sqrt`` (optional) then ``(x - mean) / std`` column by column (optional); see the module docstring."""

    kind: str
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    @classmethod
    def fit(cls, vectors: Any, kind: str = "standardize") -> "FeatureTransform":
        """The transform ``kind`` with its statistics taken from ``vectors`` (rows = training items)."""
        if kind not in FEATURE_TRANSFORMS:
            raise ValueError(f"Unknown feature transform {kind!r}; known: {', '.join(FEATURE_TRANSFORMS)}.")
        array = np.asarray(vectors, dtype=np.float64)
        if array.ndim != 2 or len(array) < 2:
            raise ValueError(
                f"Fitting a feature transform needs a (rows, width) matrix with at least 2 rows, got {array.shape}."
            )
        if kind.startswith("sqrt"):
            _check_non_negative(array)
            array = np.sqrt(array)
        if not kind.endswith("standardize"):
            return cls(kind)
        std = array.std(axis=0)
        return cls(kind, array.mean(axis=0).astype(np.float32), np.where(std < MIN_STD, 1.0, std).astype(np.float32))

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        if self.kind.startswith("sqrt"):
            _check_non_negative(vectors)
            vectors = np.sqrt(vectors)
        if self.mean is not None:
            vectors = (vectors - self.mean) / self.std
        return vectors.astype(np.float32)

    def check_width(self, width: int | None, name: str) -> None:
        """A clear error when the fitted statistics do not match the vectors' ``width``."""
        if self.mean is not None and len(self.mean) != width:
            raise ValueError(f"{name} has width {len(self.mean)} but the feature vectors have width {width}.")

    def to_dict(self) -> dict[str, Any]:
        stats = {} if self.mean is None else {"mean": self.mean.tolist(), "std": self.std.tolist()}
        return {"kind": self.kind, **stats}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureTransform":
        kind = data.get("kind")
        if kind not in FEATURE_TRANSFORMS:
            known = ", ".join(FEATURE_TRANSFORMS)
            raise ValueError(f"Saved feature transform of unknown kind {kind!r}; known: {known}.")
        if not kind.endswith("standardize"):
            return cls(kind)
        mean = np.asarray(data.get("mean", []), dtype=np.float32)
        std = np.asarray(data.get("std", []), dtype=np.float32)
        if mean.shape != std.shape or mean.ndim != 1 or not len(mean) or (std <= 0).any():
            raise ValueError("A saved standardising transform needs mean and std vectors of one width, with std > 0.")
        return cls(kind, mean, std)


def _check_non_negative(vectors: np.ndarray) -> None:
    if (vectors < 0).any():
        raise ValueError("The sqrt feature transform needs non-negative features (histograms, proportions).")
