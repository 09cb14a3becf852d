"""Input checking and per-query scoring shared by every retrieval metric.

Codes are accepted in every form :func:`~cmhash_hf.retrieval.packing.as_packed` accepts (±1 or 0/1
arrays, numpy or torch, or packed ``uint8`` rows with ``bits=``). Labels are multi-hot matrices
``(n, labels)`` (numpy or torch, any numeric or bool dtype; non-zero means the label is present).

Example:
    >>> import numpy as np
    >>> scores = score_retrieval([[1, 1]], [[1, 1], [-1, -1]], [[1, 0]], [[0, 1], [1, 0]], map_ks=[1])
    >>> scores.average_precision.tolist(), scores.ap_at_k.tolist()
    ([0.5], [[0.0]])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..retrieval.packing import as_packed, packed_to_words, to_numpy
from ..numba_threads import keep_torch_threads
from .kernels import score_queries

__all__ = ["QueryScores", "score_retrieval", "as_label_matrix", "as_label_words"]


@dataclass(frozen=True)
class QueryScores:
    """Per-query results of :func:`score_retrieval`; see :func:`cmhash_hf.metrics.kernels.score_queries`."""

    bits: int
    num_database: int
    average_precision: np.ndarray
    ap_at_k: np.ndarray
    ap_dchmt_at_k: np.ndarray
    precision_at_k: np.ndarray
    ndcg_at_k: np.ndarray
    relevant: np.ndarray
    within_radius: np.ndarray
    relevant_within_radius: np.ndarray


def as_label_matrix(labels: Any, name: str = "labels") -> np.ndarray:
    """Validate a multi-hot label matrix (numpy or torch) and return it as an ``(n, labels)`` bool array.

    Example:
        >>> as_label_matrix([[0, 2]]).tolist()
        [[False, True]]
    """
    array = to_numpy(labels)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric or bool multi-hot matrix, got dtype {array.dtype}")
    if array.ndim != 2 or array.shape[1] == 0:
        raise ValueError(f"{name} must be a 2-D (n, labels) multi-hot matrix, got shape {array.shape}")
    return array != 0


def as_label_words(labels: Any, name: str = "labels") -> tuple[np.ndarray, int]:
    """Validate a multi-hot label matrix; return it packed to ``(n, ceil(labels / 64))`` ``uint64`` words, and its width.

    Example:
        >>> words, width = as_label_words([[1, 0, 1]])  # bits 1 and 3 of the first byte, most significant first
        >>> words.tolist(), width
        ([[160]], 3)
    """
    matrix = as_label_matrix(labels, name)
    return packed_to_words(np.packbits(matrix, axis=1)), matrix.shape[1]


def _as_cutoffs(values: Sequence[int], name: str) -> np.ndarray:
    """Validate cut-offs (positive integers) and return them as an int64 array."""
    array = np.asarray(list(values), dtype=np.int64)
    if array.ndim != 1 or np.any(array < 1):
        raise ValueError(f"{name} must be positive integers, got {list(values)!r}")
    return array


def score_retrieval(
    query_codes: Any,
    database_codes: Any,
    query_labels: Any,
    database_labels: Any,
    *,
    bits: int | None = None,
    map_ks: Sequence[int] = (),
    precision_ks: Sequence[int] = (),
    ndcg_ks: Sequence[int] = (),
) -> QueryScores:
    """Rank the database for every query (Hamming distance, stable ties) and score each query.

    Example:
        >>> scores = score_retrieval([[1, 1]], [[-1, -1], [1, 1]], [[1]], [[1], [1]], precision_ks=[1])
        >>> scores.average_precision.tolist(), scores.precision_at_k.tolist()
        ([1.0], [[1.0]])
    """
    q_packed, bits = as_packed(query_codes, bits, name="query codes")
    db_packed, _ = as_packed(database_codes, bits, name="database codes")
    q_labels, q_width = as_label_words(query_labels, "query labels")
    db_labels, db_width = as_label_words(database_labels, "database labels")
    if q_labels.shape[0] != q_packed.shape[0] or db_labels.shape[0] != db_packed.shape[0]:
        raise ValueError(
            f"labels and codes disagree in length: {q_packed.shape[0]} query codes vs {q_labels.shape[0]} labels, "
            f"{db_packed.shape[0]} database codes vs {db_labels.shape[0]} labels"
        )
    if q_width != db_width:
        raise ValueError(f"query labels have {q_width} label columns but database labels have {db_width}")
    if db_packed.shape[0] == 0:
        raise ValueError("the database is empty")
    with keep_torch_threads():
        outputs = score_queries(
            packed_to_words(q_packed),
            np.ascontiguousarray(packed_to_words(db_packed).T),
            q_labels,
            np.ascontiguousarray(db_labels.T),
            bits,
            _as_cutoffs(map_ks, "top_k"),
            _as_cutoffs(precision_ks, "precision k"),
            _as_cutoffs(ndcg_ks, "ndcg k"),
        )
    return QueryScores(bits, db_packed.shape[0], *outputs)
