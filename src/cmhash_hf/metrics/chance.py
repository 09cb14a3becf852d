"""The mAP of a uniformly random ranking, to tell learned codes from chance.

For a query with ``R`` relevant items among ``N``, a uniformly random ranking has

    E[AP] = (1 / N) * (H_N + (N - H_N) * (R - 1) / (N - 1))

with ``H_N`` the N-th harmonic number (``E[AP] = 0`` when ``R = 0``, and ``1`` when ``N = R = 1``):
AP is the mean over relevant items of hits / rank; an item contributes ``E[1 / rank] = H_N / N`` for
itself, and each of the other ``R - 1`` relevant items is ranked before it with probability
``(rank - 1) / (N - 1)``, which adds ``(R - 1) / (N - 1) * (1 - H_N / N)``.

Example:
    >>> chance_mean_average_precision([[1, 0], [0, 1]], [[1, 0], [1, 0], [0, 1]])
    0.7083333333333333
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scoring import as_label_matrix

__all__ = ["expected_average_precision", "chance_mean_average_precision", "relevant_counts"]

_QUERY_CHUNK = 1024


def expected_average_precision(relevant: Any, total: int) -> np.ndarray:
    """E[AP] of a uniformly random ranking of ``total`` items for queries with ``relevant`` relevant items each.

    Example:
        >>> expected_average_precision([0, 1, 2, 3], 3).round(4).tolist()
        [0.0, 0.6111, 0.8056, 1.0]
    """
    relevant = np.asarray(relevant, dtype=np.float64)
    if total < 1:
        raise ValueError(f"total must be at least 1, got {total}")
    if np.any(relevant < 0) or np.any(relevant > total):
        raise ValueError(f"relevant counts must lie in [0, {total}]")
    harmonic = float(np.sum(1.0 / np.arange(1, total + 1)))
    others = (relevant - 1) / (total - 1) if total > 1 else np.zeros_like(relevant)
    expected = (harmonic + (total - harmonic) * others) / total
    return np.where(relevant > 0, expected, 0.0)


def relevant_counts(query_labels: Any, database_labels: Any) -> np.ndarray:
    """For every query, the number of database items sharing at least one label with it (int64).

    Example:
        >>> relevant_counts([[1, 0], [1, 1]], [[1, 0], [0, 1], [0, 0]]).tolist()
        [1, 2]
    """
    queries = as_label_matrix(query_labels, "query labels").astype(np.float32)
    database = as_label_matrix(database_labels, "database labels").astype(np.float32)
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"query labels have {queries.shape[1]} label columns but database labels have {database.shape[1]}")
    counts = np.empty(queries.shape[0], dtype=np.int64)
    for start in range(0, queries.shape[0], _QUERY_CHUNK):
        shared = queries[start : start + _QUERY_CHUNK] @ database.T
        counts[start : start + _QUERY_CHUNK] = (shared > 0).sum(axis=1)
    return counts


def chance_mean_average_precision(query_labels: Any, database_labels: Any) -> float:
    """Exact expected mAP@all of a uniformly random ranking of the database, averaged over queries.

    Example:
        >>> chance_mean_average_precision([[1]], [[1], [0]])
        0.75
    """
    counts = relevant_counts(query_labels, database_labels)
    n = as_label_matrix(database_labels, "database labels").shape[0]
    return float(np.mean(expected_average_precision(counts, n)))
