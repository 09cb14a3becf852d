"""Plain per-query reference implementations of the retrieval metrics, written independently of the library.

Each query: Hamming distances from ±1 codes, a stable argsort, then textbook formulas on the ranked list.
"""

from __future__ import annotations

import numpy as np


def ranked(query_code: np.ndarray, database_codes: np.ndarray, query_labels: np.ndarray, database_labels: np.ndarray):
    """Return (distances, relevance, grades) of the database in stable Hamming order for one query."""
    bits = query_code.shape[0]
    distances = (bits - database_codes.astype(np.int64) @ query_code.astype(np.int64)) // 2
    order = np.argsort(distances, kind="stable")
    grades = (database_labels.astype(bool) & query_labels.astype(bool)).sum(axis=1)
    return distances[order], grades[order] > 0, grades[order]


def average_precision(relevance: np.ndarray, k: int | None = None, variant: str = "standard") -> float:
    """AP of a ranked relevance list: @all, standard @k, or the DCHMT variant @k."""
    positions = np.flatnonzero(relevance)
    if positions.size == 0:
        return 0.0
    precisions = [(i + 1) / (position + 1) for i, position in enumerate(positions)]
    if k is None:
        return sum(precisions) / len(precisions)
    if variant == "dchmt":
        count = min(k, len(precisions))
        return sum(precisions[:count]) / count
    inside = [p for p, position in zip(precisions, positions) if position < k]
    return sum(inside) / len(inside) if inside else 0.0


def per_query(query_codes, database_codes, query_labels, database_labels, fn):
    """Apply ``fn(distances, relevance, grades)`` to every query's ranked list and return the list of results."""
    return [
        fn(*ranked(query_codes[i], database_codes, query_labels[i], database_labels))
        for i in range(query_codes.shape[0])
    ]


def ndcg(grades: np.ndarray, k: int) -> float:
    """NDCG@k with gain 2**g - 1 and discount log2(rank + 1)."""
    def dcg(values):
        return sum((2.0 ** g - 1.0) / np.log2(rank + 2.0) for rank, g in enumerate(values[:k]))

    ideal = dcg(sorted(grades, reverse=True))
    return dcg(list(grades)) / ideal if ideal > 0 else 0.0
