"""Tie-aware recall@k: how much of an approximate top-k is as good as the exact top-k.

With Hamming distances many items tie, so "the true top-k ids" is not well defined; instead a returned
result counts as found when its distance is at most the exact k-th distance of its query (padding,
distance ``-1``, never counts). Backends report the true Hamming distance of each returned item.

Example:
    >>> import numpy as np
    >>> exact = np.array([[0, 1, 1, 2]])
    >>> found = np.array([[0, 1, 2, 3]])      # the last one is worse than the exact 4th (2)
    >>> tie_aware_recall(found, exact)
    0.75
"""

from __future__ import annotations

import numpy as np

__all__ = ["tie_aware_recall"]


def tie_aware_recall(found_distances: np.ndarray, exact_distances: np.ndarray) -> float:
    """Mean over queries of the share of the ``k`` exact slots filled by results at most the exact k-th distance."""
    found = np.asarray(found_distances)
    exact = np.asarray(exact_distances)
    if found.shape[0] != exact.shape[0]:
        raise ValueError(f"found ({found.shape[0]}) and exact ({exact.shape[0]}) results cover different numbers of queries")
    if exact.shape[1] == 0:
        return 1.0
    threshold = exact[:, -1:]
    hits = ((found >= 0) & (found <= threshold)).sum(axis=1)
    return float(np.mean(np.minimum(hits, exact.shape[1]) / exact.shape[1]))
