"""Numba kernel that scores every query of a retrieval evaluation in O(N + bits) time and O(N) memory.

For one query, Hamming distances are integers in ``[0, bits]``, so the stable ranking (ties keep
database order) needs no sort: a first pass counts the items and the relevant items at each
distance; then the rank of item ``j`` is (items at smaller distances) + (items at its distance up
to and including ``j``), found in a second pass in database order. Average precision, AP@k,
precision@k and DCG@k are sums over relevant items of quantities that depend only on that rank
and on the number of relevant items ranked up to it, so the second pass accumulates all of them.

Relevance is "shares at least one label"; the graded relevance used by NDCG is the number of
shared labels. Both come from packed label words, as distances come from packed code words.
Queries are scored in parallel blocks, each with its own O(N) scratch, so memory stays bounded
whatever the number of queries.

Example:
    >>> import numpy as np
    >>> q = np.array([[0b0011]], dtype=np.uint64)                    # (queries, words)
    >>> db = np.array([[0b0011, 0b0000, 0b0001]], dtype=np.uint64)   # (words, items)
    >>> ql = np.array([[1]], dtype=np.uint64)
    >>> dl = np.array([[1, 0, 1]], dtype=np.uint64)
    >>> out = score_queries(q, db, ql, dl, 4, np.array([2]), np.array([1]), np.array([2]))
    >>> out[0].tolist(), out[1].tolist(), out[3].tolist()
    ([1.0], [[1.0]], [[1.0]])
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from ..retrieval.kernels import popcount64

__all__ = ["score_queries", "QUERY_BLOCK"]

QUERY_BLOCK = 8


@njit(cache=True, inline="always")
def _fill_distances_and_grades(q_words, db_words, q_labels, db_labels, q, dist, grade):
    """Distances and shared-label counts from query ``q`` to every database item (vectorised loops)."""
    n = dist.shape[0]
    dist[:] = 0
    grade[:] = 0
    for w in range(db_words.shape[0]):
        a = q_words[q, w]
        row = db_words[w]
        for j in range(n):
            dist[j] += np.int32(popcount64(a ^ row[j]))
    for w in range(db_labels.shape[0]):
        a = q_labels[q, w]
        row = db_labels[w]
        for j in range(n):
            grade[j] += np.int32(popcount64(a & row[j]))


@njit(cache=True)
def _ideal_dcg(grade_hist, k):
    """DCG of the best possible top-``k`` list, given how many items have each grade."""
    total = 0.0
    position = 0
    for g in range(grade_hist.shape[0] - 1, 0, -1):
        for _ in range(grade_hist[g]):
            if position == k:
                return total
            position += 1
            total += (2.0**g - 1.0) / np.log2(position + 1.0)
    return total


@njit(parallel=True, cache=True)
def score_queries(q_words, db_words, q_labels, db_labels, bits, map_ks, precision_ks, ndcg_ks):
    """Per-query scores of a retrieval run.

    Args:
        q_words: ``(Q, W)`` uint64 packed query codes; db_words: ``(W, N)`` uint64 packed database codes.
        q_labels: ``(Q, L)`` uint64 packed query labels; db_labels: ``(L, N)`` uint64 packed database labels.
        bits: code length; map_ks, precision_ks, ndcg_ks: int64 arrays of cut-offs.

    Returns ``(ap, ap_at_k, ap_dchmt_at_k, precision_at_k, ndcg_at_k, relevant, within, relevant_within)``:
    AP@all ``(Q,)``; standard AP@k and DCHMT-variant AP@k ``(Q, len(map_ks))``; precision@k
    ``(Q, len(precision_ks))``; NDCG@k ``(Q, len(ndcg_ks))``; relevant items per query ``(Q,)``; and
    the cumulative item / relevant-item counts within each radius ``(Q, bits + 1)``.
    """
    n_queries = q_words.shape[0]
    n = db_words.shape[1]
    max_grade = 64 * db_labels.shape[0]
    ap = np.zeros(n_queries)
    ap_k = np.zeros((n_queries, map_ks.shape[0]))
    ap_dchmt = np.zeros((n_queries, map_ks.shape[0]))
    precision = np.zeros((n_queries, precision_ks.shape[0]))
    ndcg = np.zeros((n_queries, ndcg_ks.shape[0]))
    relevant = np.zeros(n_queries, dtype=np.int64)
    within = np.zeros((n_queries, bits + 1), dtype=np.int64)
    relevant_within = np.zeros((n_queries, bits + 1), dtype=np.int64)
    n_blocks = (n_queries + QUERY_BLOCK - 1) // QUERY_BLOCK
    for block in prange(n_blocks):
        dist = np.empty(n, dtype=np.int32)
        grade = np.empty(n, dtype=np.int32)
        count = np.empty(bits + 1, dtype=np.int64)
        rel_count = np.empty(bits + 1, dtype=np.int64)
        before = np.empty(bits + 1, dtype=np.int64)
        rel_before = np.empty(bits + 1, dtype=np.int64)
        grade_hist = np.empty(max_grade + 1, dtype=np.int64)
        apk_sum = np.empty(map_ks.shape[0])
        apk_hits = np.empty(map_ks.shape[0], dtype=np.int64)
        dchmt_sum = np.empty(map_ks.shape[0])
        prec_hits = np.empty(precision_ks.shape[0], dtype=np.int64)
        dcg = np.empty(ndcg_ks.shape[0])
        for q in range(block * QUERY_BLOCK, min(n_queries, (block + 1) * QUERY_BLOCK)):
            _fill_distances_and_grades(q_words, db_words, q_labels, db_labels, q, dist, grade)
            count[:] = 0
            rel_count[:] = 0
            grade_hist[:] = 0
            for j in range(n):
                count[dist[j]] += 1
                grade_hist[grade[j]] += 1
                if grade[j] > 0:
                    rel_count[dist[j]] += 1
            n_relevant = n - grade_hist[0]
            relevant[q] = n_relevant
            running = 0
            rel_running = 0
            for d in range(bits + 1):
                before[d] = running
                rel_before[d] = rel_running
                running += count[d]
                rel_running += rel_count[d]
                within[q, d] = running
                relevant_within[q, d] = rel_running
            if n_relevant == 0:
                continue
            # From here `before` / `rel_before` advance as items are seen: rank = before[d] after the increment.
            ap_sum = 0.0
            apk_sum[:] = 0.0
            apk_hits[:] = 0
            dchmt_sum[:] = 0.0
            prec_hits[:] = 0
            dcg[:] = 0.0
            for j in range(n):
                d = dist[j]
                before[d] += 1
                g = grade[j]
                if g == 0:
                    continue
                rel_before[d] += 1
                rank = before[d]
                hits = rel_before[d]
                p = hits / rank
                ap_sum += p
                for i in range(map_ks.shape[0]):
                    if rank <= map_ks[i]:
                        apk_sum[i] += p
                        apk_hits[i] += 1
                    if hits <= min(map_ks[i], n_relevant):
                        dchmt_sum[i] += p
                for i in range(precision_ks.shape[0]):
                    if rank <= precision_ks[i]:
                        prec_hits[i] += 1
                for i in range(ndcg_ks.shape[0]):
                    if rank <= ndcg_ks[i]:
                        dcg[i] += (2.0**g - 1.0) / np.log2(rank + 1.0)
            ap[q] = ap_sum / n_relevant
            for i in range(map_ks.shape[0]):
                if apk_hits[i] > 0:
                    ap_k[q, i] = apk_sum[i] / apk_hits[i]
                ap_dchmt[q, i] = dchmt_sum[i] / min(map_ks[i], n_relevant)
            for i in range(precision_ks.shape[0]):
                precision[q, i] = prec_hits[i] / min(precision_ks[i], n)
            for i in range(ndcg_ks.shape[0]):
                ndcg[q, i] = dcg[i] / _ideal_dcg(grade_hist, ndcg_ks[i])
    return ap, ap_k, ap_dchmt, precision, ndcg, relevant, within, relevant_within
