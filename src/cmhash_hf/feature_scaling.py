"""Per-column standardisation of precomputed feature vectors (``features`` modes), fitted on the training set.

Feature datasets such as Wiki ship histograms and topic proportions whose rows sum to 1, so a column's values
are tiny (Wiki's 128-d image histograms average 0.008) and an MLP tower learns from them very slowly. The
processor therefore z-scores each column with the mean and standard deviation of the training rows; the two
vectors are saved with the processor, so queries at test time are scaled exactly as training data was.

Example:
    >>> import numpy as np
    >>> scaler = FeatureStandardizer.fit(np.array([[0.0, 1.0], [2.0, 1.0]]))
    >>> scaler.mean.tolist(), scaler.std.tolist()
    ([1.0, 1.0], [1.0, 1.0])
    >>> scaler(np.array([[3.0, 1.0]], dtype=np.float32)).tolist()
    [[2.0, 0.0]]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: A column whose training values never vary is only centred (divided by 1, not by ~0).
MIN_STD = 1e-6


@dataclass(frozen=True)
class FeatureStandardizer:
    """``(x - mean) / std`` column by column; ``std`` below `MIN_STD` counts as 1."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, vectors: Any) -> "FeatureStandardizer":
        """The column means and standard deviations of ``vectors`` (rows = training items)."""
        array = np.asarray(vectors, dtype=np.float64)
        if array.ndim != 2 or len(array) < 2:
            raise ValueError(f"Fitting a standardiser needs a (rows, width) matrix with at least 2 rows, got {array.shape}.")
        std = array.std(axis=0)
        return cls(array.mean(axis=0).astype(np.float32), np.where(std < MIN_STD, 1.0, std).astype(np.float32))

    @property
    def width(self) -> int:
        return len(self.mean)

    def __call__(self, vectors: np.ndarray) -> np.ndarray:
        return ((vectors - self.mean) / self.std).astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": self.mean.tolist(), "std": self.std.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "FeatureStandardizer":
        mean = np.asarray(data["mean"], dtype=np.float32)
        std = np.asarray(data["std"], dtype=np.float32)
        if mean.shape != std.shape or mean.ndim != 1 or (std <= 0).any():
            raise ValueError("A saved feature standardiser needs mean and std vectors of one width, with std > 0.")
        return cls(mean, std)
