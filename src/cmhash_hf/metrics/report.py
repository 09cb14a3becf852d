"""One call that computes everything the evaluation table, JSON and plots need, in a single ranking pass.

Example:
    >>> report = retrieval_report([[1, 1]], [[1, 1], [-1, -1]], [[1]], [[0], [1]], top_k_values=[1], precision_k_values=[1, 2])
    >>> report["map"], report["map_at_k"], report["precision_at_k"]
    (0.5, {'1': 0.0}, {'1': 0.0, '2': 0.5})
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .chance import expected_average_precision
from .ranking import pr_by_radius_from_scores
from .scoring import score_retrieval

__all__ = ["retrieval_report", "DEFAULT_PRECISION_K"]

DEFAULT_PRECISION_K = (1, 5, 10, 20, 50, 100, 200, 500, 1000)


def retrieval_report(
    query_codes: Any,
    database_codes: Any,
    query_labels: Any,
    database_labels: Any,
    top_k_values: Sequence[int] = (),
    precision_k_values: Sequence[int] = DEFAULT_PRECISION_K,
    *,
    bits: int | None = None,
) -> dict[str, Any]:
    """mAP@all, mAP@k, precision@k, the PR curve by Hamming radius and the chance mAP, JSON-ready.

    Returns ``{"bits", "num_queries", "num_database", "map", "map_at_k", "precision_at_k",
    "pr_curve": {"radius", "precision", "recall"}, "chance_map"}`` where the ``*_at_k`` entries map
    ``str(k)`` to the value (string keys so the dict survives a JSON round trip unchanged).

    Example:
        >>> report = retrieval_report([[1, -1]], [[1, -1], [1, 1]], [[1]], [[1], [1]], precision_k_values=[2])
        >>> report["pr_curve"]["recall"], report["chance_map"]
        ([0.5, 1.0, 1.0], 1.0)
    """
    scores = score_retrieval(
        query_codes,
        database_codes,
        query_labels,
        database_labels,
        bits=bits,
        map_ks=top_k_values,
        precision_ks=precision_k_values,
    )
    curve = pr_by_radius_from_scores(scores)
    return {
        "bits": scores.bits,
        "num_queries": int(scores.average_precision.shape[0]),
        "num_database": scores.num_database,
        "map": float(np.mean(scores.average_precision)),
        "map_at_k": {str(k): float(v) for k, v in zip(top_k_values, scores.ap_at_k.mean(axis=0))},
        "precision_at_k": {str(k): float(v) for k, v in zip(precision_k_values, scores.precision_at_k.mean(axis=0))},
        "pr_curve": {name: values.tolist() for name, values in curve.items()},
        "chance_map": float(np.mean(expected_average_precision(scores.relevant, scores.num_database))),
    }
