"""Ranking metrics of Hamming retrieval besides mAP: precision@k, precision–recall by radius, NDCG@k.

Relevance, ranking and ties follow :mod:`cmhash_hf.metrics.map`. Conventions:

* precision@k divides by ``min(k, database size)`` (the length of the returned list);
* at Hamming radius ``r`` the retrieved set is every item at distance ``<= r``; precision is averaged
  over the queries that retrieve at least one item (0 when none does), recall over the queries that
  have at least one relevant item;
* NDCG@k uses graded relevance ``g`` = number of shared labels, gain ``2**g - 1`` and discount
  ``log2(rank + 1)``; a query without relevant items scores 0.

Example:
    >>> codes = [[1, 1], [1, -1], [-1, -1]]
    >>> labels = [[1, 0], [0, 1], [1, 1]]
    >>> precision_at_k([[1, 1]], codes, [[1, 0]], labels, k=2)
    0.5
    >>> precision_recall_by_radius([[1, 1]], codes, [[1, 0]], labels)["recall"].tolist()
    [0.5, 0.5, 1.0]
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scoring import QueryScores, score_retrieval

__all__ = ["precision_at_k", "precision_recall_by_radius", "ndcg_at_k", "pr_by_radius_from_scores"]


def precision_at_k(
    query_codes: Any, database_codes: Any, query_labels: Any, database_labels: Any, k: int, *, bits: int | None = None
) -> float:
    """Mean precision of the top ``k`` (stable Hamming ranking) over all queries.

    Example:
        >>> precision_at_k([[1, 1]], [[1, 1], [-1, -1]], [[1]], [[0], [1]], k=1)
        0.0
    """
    scores = score_retrieval(query_codes, database_codes, query_labels, database_labels, bits=bits, precision_ks=[k])
    return float(np.mean(scores.precision_at_k[:, 0]))


def ndcg_at_k(
    query_codes: Any, database_codes: Any, query_labels: Any, database_labels: Any, k: int, *, bits: int | None = None
) -> float:
    """Mean NDCG@k with graded relevance (number of shared labels) over all queries.

    Example:
        >>> round(ndcg_at_k([[1, 1]], [[1, 1], [-1, -1]], [[1, 1]], [[1, 0], [1, 1]], k=2), 4)
        0.7967
    """
    scores = score_retrieval(query_codes, database_codes, query_labels, database_labels, bits=bits, ndcg_ks=[k])
    return float(np.mean(scores.ndcg_at_k[:, 0]))


def pr_by_radius_from_scores(scores: QueryScores) -> dict[str, np.ndarray]:
    """Average the per-query radius counts of :func:`~cmhash_hf.metrics.scoring.score_retrieval` into a PR curve.

    Example:
        >>> from cmhash_hf.metrics.scoring import score_retrieval
        >>> curve = pr_by_radius_from_scores(score_retrieval([[1]], [[1], [-1]], [[1]], [[0], [1]]))
        >>> curve["precision"].tolist(), curve["recall"].tolist()
        ([0.0, 0.5], [0.0, 1.0])
    """
    within = scores.within_radius.astype(np.float64)
    hits = scores.relevant_within_radius.astype(np.float64)
    retrieves = within > 0
    n_retrieving = retrieves.sum(axis=0)
    precision_sum = np.where(retrieves, hits / np.maximum(within, 1), 0.0).sum(axis=0)
    precision = np.where(n_retrieving > 0, precision_sum / np.maximum(n_retrieving, 1), 0.0)
    has_relevant = scores.relevant > 0
    if has_relevant.any():
        recall = (hits[has_relevant] / scores.relevant[has_relevant, None]).mean(axis=0)
    else:
        recall = np.zeros(scores.bits + 1)
    return {"radius": np.arange(scores.bits + 1), "precision": precision, "recall": recall}


def precision_recall_by_radius(
    query_codes: Any, database_codes: Any, query_labels: Any, database_labels: Any, *, bits: int | None = None
) -> dict[str, np.ndarray]:
    """Precision and recall of retrieving everything within Hamming radius ``0..bits``.

    Returns ``{"radius", "precision", "recall"}`` arrays of length ``bits + 1``.

    Example:
        >>> curve = precision_recall_by_radius([[1, 1]], [[1, 1], [1, -1]], [[1]], [[1], [0]])
        >>> curve["radius"].tolist(), curve["precision"].tolist()
        ([0, 1, 2], [1.0, 0.5, 0.5])
    """
    return pr_by_radius_from_scores(score_retrieval(query_codes, database_codes, query_labels, database_labels, bits=bits))
