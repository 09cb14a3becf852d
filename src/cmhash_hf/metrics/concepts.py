"""Scoring by concept: relevance restricted to a subset of the labels, and the mAP of each label on its own.

A headline mAP can hide what a model has not learned: on ``builtin:shapes`` a model that sees only colours
still scores far above chance, because most relevant pairs share a colour. Restricting relevance to some
labels (e.g. the twelve shape kinds) asks whether the codes carry *those* concepts:

* :func:`label_subset_report` — an item is relevant to a query when they share one of the chosen labels;
  queries that have none of them are left out (and counted as ``num_queries_left_out``); the database is
  unchanged. The report is a :func:`~cmhash_hf.metrics.retrieval_report` (mAP, precision@k, PR curve, chance).
* :func:`per_label_map` — for each label alone: the queries that have it, relevant = database items that have
  it. Returns each label's mAP@all, its chance level (the expected mAP of a random ranking) and its number of
  queries; a label no query has scores NaN.

Label columns are indices into the multi-hot matrices (name → index lookup is the caller's, e.g.
`cmhash_hf.evaluation`).

Example:
    >>> query_codes, database_codes = [[1, 1], [1, -1]], [[1, 1], [1, -1], [-1, -1]]
    >>> query_labels, database_labels = [[1, 0, 1], [0, 0, 1]], [[1, 0, 0], [0, 1, 1], [1, 0, 1]]
    >>> report = label_subset_report(query_codes, database_codes, query_labels, database_labels, [0, 1])
    >>> round(report["map"], 4), report["num_queries"], report["num_queries_left_out"]  # relevant at ranks 1 and 3
    (0.8333, 1, 1)
    >>> per_label_map(query_codes, database_codes, query_labels, database_labels)["num_queries"].tolist()
    [1, 0, 2]
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..retrieval.packing import as_packed
from .chance import expected_average_precision
from .report import DEFAULT_PRECISION_K, retrieval_report
from .scoring import as_label_matrix, score_retrieval

__all__ = ["restrict_to_labels", "label_subset_report", "per_label_map"]


def _label_columns(columns: Sequence[int], width: int) -> list[int]:
    """Validate label column indices (non-empty, distinct, inside ``[0, width)``)."""
    values = list(columns)
    if not values:
        raise ValueError("the label subset is empty: name at least one label")
    if any(isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) for c in values):
        raise TypeError(f"label columns must be integers, got {values!r}")
    if any(c < 0 or c >= width for c in values):
        raise ValueError(f"label columns must lie in [0, {width}) (the labels have {width} columns), got {values!r}")
    if len(set(values)) != len(values):
        raise ValueError(f"label columns must be distinct, got {values!r}")
    return [int(c) for c in values]


def restrict_to_labels(
    query_labels: Any, database_labels: Any, columns: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep only the label ``columns``; return ``(query labels of the kept queries, database labels, kept mask)``.

    A query is kept when it has at least one of the labels; every database item stays.

    Example:
        >>> q, db, kept = restrict_to_labels([[1, 0, 1], [0, 1, 0]], [[1, 1, 0]], [0, 2])
        >>> q.astype(int).tolist(), db.astype(int).tolist(), kept.tolist()
        ([[1, 1]], [[1, 0]], [True, False])
    """
    queries = as_label_matrix(query_labels, "query labels")
    database = as_label_matrix(database_labels, "database labels")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"query labels have {queries.shape[1]} label columns but database labels have {database.shape[1]}")
    kept_columns = _label_columns(columns, queries.shape[1])
    queries, database = queries[:, kept_columns], database[:, kept_columns]
    kept = queries.any(axis=1)
    return queries[kept], database, kept


def label_subset_report(
    query_codes: Any,
    database_codes: Any,
    query_labels: Any,
    database_labels: Any,
    columns: Sequence[int],
    top_k_values: Sequence[int] = (),
    precision_k_values: Sequence[int] = DEFAULT_PRECISION_K,
    *,
    bits: int | None = None,
) -> dict[str, Any]:
    """:func:`~cmhash_hf.metrics.retrieval_report` with relevance restricted to the label ``columns``.

    Adds ``"label_columns"`` (the columns, as given) and ``"num_queries_left_out"`` (queries with none of
    them); ``"num_queries"`` counts the queries scored. Raises ``ValueError`` when no query has any of them.

    Example:
        >>> report = label_subset_report([[1], [-1]], [[1], [-1]], [[1, 0], [0, 1]], [[0, 1], [1, 1]], [1])
        >>> report["map"], report["num_queries_left_out"], report["label_columns"]
        (1.0, 1, [1])
    """
    queries, database, kept = restrict_to_labels(query_labels, database_labels, columns)
    if not kept.any():
        raise ValueError(f"no query has any of the label columns {list(columns)!r}: choose labels the queries carry")
    packed, bits = as_packed(query_codes, bits, name="query codes")
    if packed.shape[0] != kept.shape[0]:
        raise ValueError(f"labels and codes disagree in length: {packed.shape[0]} query codes vs {kept.shape[0]} labels")
    report = retrieval_report(
        packed[kept], database_codes, queries, database, top_k_values, precision_k_values, bits=bits
    )
    report["label_columns"] = [int(c) for c in columns]
    report["num_queries_left_out"] = int((~kept).sum())
    return report


def per_label_map(
    query_codes: Any, database_codes: Any, query_labels: Any, database_labels: Any, *, bits: int | None = None
) -> dict[str, np.ndarray]:
    """mAP@all of each label on its own: the queries that have it, relevant = the database items that have it.

    Returns ``{"map", "chance", "num_queries"}``, one entry per label column (NaN mAP and chance for a label
    that no query has).

    Example:
        >>> scores = per_label_map([[1], [-1]], [[1], [-1]], [[1, 0], [0, 0]], [[1, 0], [1, 0]])
        >>> scores["map"].tolist(), scores["chance"].tolist(), scores["num_queries"].tolist()
        ([1.0, nan], [1.0, nan], [1, 0])
    """
    queries = as_label_matrix(query_labels, "query labels")
    database = as_label_matrix(database_labels, "database labels")
    if queries.shape[1] != database.shape[1]:
        raise ValueError(f"query labels have {queries.shape[1]} label columns but database labels have {database.shape[1]}")
    packed, bits = as_packed(query_codes, bits, name="query codes")
    if packed.shape[0] != queries.shape[0]:
        raise ValueError(f"labels and codes disagree in length: {packed.shape[0]} query codes vs {queries.shape[0]} labels")
    num_labels = queries.shape[1]
    maps, chances = np.full(num_labels, np.nan), np.full(num_labels, np.nan)
    counts = queries.sum(axis=0).astype(np.int64)
    for column in range(num_labels):
        has = queries[:, column]
        if not has.any():
            continue
        relevant = database[:, column : column + 1]
        scores = score_retrieval(packed[has], database_codes, np.ones((int(has.sum()), 1), bool), relevant, bits=bits)
        maps[column] = float(np.mean(scores.average_precision))
        chances[column] = float(np.mean(expected_average_precision(scores.relevant, scores.num_database)))
    return {"map": maps, "chance": chances, "num_queries": counts}
