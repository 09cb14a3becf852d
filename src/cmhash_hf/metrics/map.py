"""Mean average precision of Hamming ranking, at all positions or over the top k.

Relevance is "shares at least one label"; the ranking is by Hamming distance with ties kept in
database order; a query without any relevant item scores AP = 0 and is counted in the mean.

Variants (for one query with ``R`` relevant items, ``rank_i`` the rank of its i-th relevant item
and ``P(r)`` the precision of the top ``r``):

* ``top_k=None`` — AP@all: the mean of ``P(rank_i)`` over all ``R`` relevant items;
* ``variant="standard"`` with ``top_k=k`` — AP@k: the mean of ``P(rank_i)`` over the relevant items
  inside the top ``k`` (0 when there are none);
* ``variant="dchmt"`` with ``top_k=k`` — the CLIP-era papers' AP@k (DCHMT and followers): the mean of
  ``P(rank_i)`` over the first ``min(k, R)`` relevant items wherever they are ranked. Only for
  comparing with those papers' tables; it is not the standard AP@k.

Example:
    >>> codes = [[1, 1], [1, -1], [-1, -1]]
    >>> labels = [[1, 0], [0, 1], [1, 0]]
    >>> round(mean_average_precision([[1, 1]], codes, [[1, 0]], labels), 4)   # relevant at ranks 1 and 3
    0.8333
    >>> mean_average_precision([[1, 1]], codes, [[1, 0]], labels, top_k=2)
    1.0
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .scoring import score_retrieval

__all__ = ["mean_average_precision"]

_VARIANTS = ("standard", "dchmt")


def mean_average_precision(
    query_codes: Any,
    database_codes: Any,
    query_labels: Any,
    database_labels: Any,
    top_k: int | None = None,
    variant: str = "standard",
    *,
    bits: int | None = None,
) -> float:
    """mAP of ranking ``database_codes`` by Hamming distance to each of ``query_codes`` (see the module docstring).

    Codes: ±1 or 0/1 arrays (numpy or torch), or packed ``uint8`` rows with ``bits``. Labels:
    multi-hot ``(n, labels)`` matrices.

    Example:
        >>> mean_average_precision([[1, 1]], [[-1, -1], [1, 1]], [[1]], [[1], [0]], top_k=1, variant="dchmt")
        0.5
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    if top_k is None:
        scores = score_retrieval(query_codes, database_codes, query_labels, database_labels, bits=bits)
        return float(np.mean(scores.average_precision))
    scores = score_retrieval(query_codes, database_codes, query_labels, database_labels, bits=bits, map_ks=[top_k])
    per_query = scores.ap_at_k if variant == "standard" else scores.ap_dchmt_at_k
    return float(np.mean(per_query[:, 0]))
