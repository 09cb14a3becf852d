"""Numba kernels for exact Hamming top-k search over packed ``uint64`` codes.

Shape of the search (what makes it fast):

* the database is stored word-major, ``(words, n)`` ``uint64``, so the distance of one query to a
  run of items is a loop LLVM vectorises into ``XOR`` + ``VPOPCNTQ`` + ``VPMINUQ`` (AVX-512 VPOPCNTDQ;
  it picks 256-bit vectors, 4 codes per instruction, on this CPU);
* queries are processed in blocks of :data:`QUERY_BLOCK` against database blocks of
  :data:`DATABASE_BLOCK` items (512 KiB per word, inside L2), so each block is read from memory
  once per query block instead of once per query;
* every query keeps a running threshold (its current k-th best distance); distances are computed
  for a chunk of :data:`CHUNK` items together with their minimum, and a chunk whose minimum is not
  below the threshold — almost every chunk once the threshold has settled — is rejected by one compare;
* surviving candidates go to a small per-query buffer in insertion order, together with a histogram
  of their distances (integers in ``[0, bits]``) from which the threshold is lowered as soon as ``k``
  candidates lie strictly below it; a later item at the threshold distance loses every tie, so it is
  rejected too. A full buffer is compacted in place, and the final selection orders by
  ``(distance, insertion index)`` with a stable counting sort. No heap and no full sort is needed,
  and ties are broken by insertion order exactly.
* with fewer query blocks than threads, the database is split into slices searched in parallel and
  the per-slice results are merged in slice order, so one query still uses every core.

What limits it: once the threshold has settled, the vector XOR + popcount + min throughput of each
core: about 7 codes per ns and core for 64-bit codes here (measured), i.e. ~0.07 s per core for
1,000 queries x 1M codes of pure scanning; the rest is the few percent of chunks that pass the
threshold test (re-scanned into the buffer) and the start of each query's scan, before its
threshold settles. 128-bit codes cost about twice as much. Without VPOPCNTDQ (older CPUs), LLVM
falls back to scalar ``popcnt`` and the scan is several times slower. With a single query the
search is bound by memory bandwidth instead, since every code is read once for one query. Very
clustered codes or a large ``k`` keep thresholds high for longer and send more chunks to the buffer.

The kernels are compiled by numba on first use (a few seconds) and cached on disk (``cache=True``),
so later processes pay nothing.

Example:
    >>> import numpy as np
    >>> words = np.array([[0b1111, 0b0001, 0b0000, 0b0011]], dtype=np.uint64)  # (words, n)
    >>> queries = np.array([[0b0001]], dtype=np.uint64)
    >>> distances, positions = search_top_k(queries, words, 4, 2, 4)
    >>> distances.tolist(), positions.tolist()
    ([[0, 1]], [[1, 2]])
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from ..numba_threads import keep_torch_threads

__all__ = ["popcount64", "search_top_k", "QUERY_BLOCK", "DATABASE_BLOCK", "CHUNK"]

QUERY_BLOCK = 16
DATABASE_BLOCK = 65536
CHUNK = 256


@intrinsic
def popcount64(typingctx, value):
    """Number of set bits of a ``uint64`` (LLVM ``ctpop``; one instruction on x86-64 with POPCNT)."""
    sig = types.uint64(types.uint64)

    def codegen(context, builder, signature, args):
        function = builder.module.declare_intrinsic("llvm.ctpop", [ir.IntType(64)])
        return builder.call(function, args)

    return sig, codegen


@njit(cache=True, inline="always")
def _cut_to_k(buf_d, buf_i, fill, k, hist):
    """Keep the best ``k`` of ``fill`` buffered candidates (in insertion order); return their k-th distance."""
    hist[:] = 0
    for t in range(fill):
        hist[buf_d[t]] += 1
    below = 0
    cut = 0
    for d in range(hist.shape[0]):
        if below + hist[d] >= k:
            cut = d
            break
        below += hist[d]
    _compact(buf_d, buf_i, fill, cut, k - below)
    return cut


@njit(cache=True, inline="always")
def _write_sorted(buf_d, buf_i, fill, k, hist, out_d, out_i):
    """Write the best ``min(k, fill)`` candidates ordered by (distance, insertion index); return how many."""
    if fill > k:
        _cut_to_k(buf_d, buf_i, fill, k, hist)
        fill = k
    hist[:] = 0
    for t in range(fill):
        hist[buf_d[t]] += 1
    start = 0
    for d in range(hist.shape[0]):
        count = hist[d]
        hist[d] = start
        start += count
    for t in range(fill):
        d = buf_d[t]
        slot = hist[d]
        hist[d] = slot + 1
        out_d[slot] = d
        out_i[slot] = buf_i[t]
    return fill


@njit(cache=True, inline="always")
def _chunk_distances(queries, q, words, c0, c1, dist):
    """Distances from query row ``q`` to database columns ``c0:c1`` into ``dist[:c1 - c0]`` (vectorised)."""
    n = c1 - c0
    for j in range(n):
        dist[j] = 0
    for w in range(words.shape[0]):
        a = queries[q, w]
        row = words[w, c0:c1]
        for j in range(n):
            dist[j] += np.int32(popcount64(a ^ row[j]))


@njit(cache=True, inline="always")
def _chunk_min(queries, q, words, c0, c1, dist):
    """Smallest distance from query row ``q`` to database columns ``c0:c1``.

    Specialised for 1 and 2 words (the common 64- and 128-bit codes), where the minimum is taken
    without storing distances. The loops index slices from 0 so numba can prove the index
    non-negative and LLVM vectorises them.
    """
    n_words = words.shape[0]
    if n_words == 1:
        smallest = np.uint64(1 << 30)
        a = queries[q, 0]
        row = words[0, c0:c1]
        for j in range(row.shape[0]):
            smallest = min(smallest, popcount64(a ^ row[j]))
        return np.int32(smallest)
    if n_words == 2:
        smallest = np.uint64(1 << 30)
        a, b = queries[q, 0], queries[q, 1]
        row_a, row_b = words[0, c0:c1], words[1, c0:c1]
        for j in range(row_a.shape[0]):
            smallest = min(smallest, popcount64(a ^ row_a[j]) + popcount64(b ^ row_b[j]))
        return np.int32(smallest)
    _chunk_distances(queries, q, words, c0, c1, dist)
    least = np.int32(1 << 30)
    for j in range(c1 - c0):
        least = min(least, dist[j])
    return least


@njit(cache=True, inline="always")
def _compact(buf_d, buf_i, fill, limit, keep_at_limit):
    """Drop buffered candidates that can no longer make the top k, keeping insertion order; return the new fill."""
    out = 0
    for t in range(fill):
        d = buf_d[t]
        if d < limit or (d == limit and keep_at_limit > 0):
            if d == limit:
                keep_at_limit -= 1
            buf_d[out] = d
            buf_i[out] = buf_i[t]
            out += 1
    return out


@njit(cache=True)
def _search_block(queries, words, q0, q1, j0, j1, k, bits, out_d, out_i, out_n):
    """Exact top-k of queries ``q0:q1`` over database items ``j0:j1``; results into row ``q`` of the outputs.

    Per query, ``limit`` is the smallest distance ``t`` with at least ``k`` accepted candidates at
    distance ``<= t``: a later item at distance ``>= limit`` loses to all of them (ties go to the
    earlier item), so it is rejected. ``below`` counts accepted candidates under ``limit``.
    """
    nq = q1 - q0
    capacity = min(4 * k + CHUNK, j1 - j0 + 1)
    buf_d = np.empty((nq, capacity), dtype=np.int32)
    buf_i = np.empty((nq, capacity), dtype=np.int64)
    fill = np.zeros(nq, dtype=np.int64)
    hist = np.zeros((nq, bits + 2), dtype=np.int64)
    threshold = np.full(nq, bits + 1, dtype=np.int32)
    below = np.zeros(nq, dtype=np.int64)
    scratch = np.empty(bits + 2, dtype=np.int64)
    dist = np.empty(CHUNK, dtype=np.int32)
    for b0 in range(j0, j1, DATABASE_BLOCK):
        b1 = min(j1, b0 + DATABASE_BLOCK)
        for qi in range(nq):
            q = q0 + qi
            limit = threshold[qi]
            for c0 in range(b0, b1, CHUNK):
                c1 = min(b1, c0 + CHUNK)
                if _chunk_min(queries, q, words, c0, c1, dist) >= limit:
                    continue
                _chunk_distances(queries, q, words, c0, c1, dist)
                for jj in range(c1 - c0):
                    d = dist[jj]
                    if d >= limit:
                        continue
                    j = c0 + jj
                    t = fill[qi]
                    if t == capacity:
                        t = _compact(buf_d[qi], buf_i[qi], t, limit, k - below[qi])
                    buf_d[qi, t] = d
                    buf_i[qi, t] = j
                    fill[qi] = t + 1
                    hist[qi, d] += 1
                    below[qi] += 1
                    while below[qi] >= k:
                        limit -= 1
                        below[qi] -= hist[qi, limit]
            threshold[qi] = limit
    for qi in range(nq):
        out_n[q0 + qi] = _write_sorted(buf_d[qi], buf_i[qi], fill[qi], k, scratch, out_d[q0 + qi], out_i[q0 + qi])


@njit(parallel=True, cache=True)
def _search_parallel(queries, words, size, k, bits, n_slices):
    """Run :func:`_search_block` over (query block, database slice) tasks and merge the slices per query."""
    nq = queries.shape[0]
    n_qblocks = (nq + QUERY_BLOCK - 1) // QUERY_BLOCK
    slice_len = (size + n_slices - 1) // n_slices
    part_d = np.empty((n_slices, nq, k), dtype=np.int32)
    part_i = np.empty((n_slices, nq, k), dtype=np.int64)
    part_n = np.zeros((n_slices, nq), dtype=np.int64)
    for task in prange(n_qblocks * n_slices):
        qb = task // n_slices
        s = task % n_slices
        q0 = qb * QUERY_BLOCK
        q1 = min(nq, q0 + QUERY_BLOCK)
        j0 = min(size, s * slice_len)
        j1 = min(size, j0 + slice_len)
        _search_block(queries, words, q0, q1, j0, j1, k, bits, part_d[s], part_i[s], part_n[s])
    if n_slices == 1:
        return part_d[0], part_i[0], part_n[0]
    out_d = np.empty((nq, k), dtype=np.int32)
    out_i = np.empty((nq, k), dtype=np.int64)
    out_n = np.zeros(nq, dtype=np.int64)
    for q in prange(nq):
        buf_d = np.empty(n_slices * k, dtype=np.int32)
        buf_i = np.empty(n_slices * k, dtype=np.int64)
        hist = np.empty(bits + 2, dtype=np.int64)
        fill = 0
        for s in range(n_slices):
            for t in range(part_n[s, q]):
                buf_d[fill] = part_d[s, q, t]
                buf_i[fill] = part_i[s, q, t]
                fill += 1
        out_n[q] = _write_sorted(buf_d, buf_i, fill, k, hist, out_d[q], out_i[q])
    return out_d, out_i, out_n


def search_top_k(
    queries: np.ndarray, words: np.ndarray, size: int, k: int, bits: int
) -> tuple[np.ndarray, np.ndarray]:
    """Exact Hamming top-k of ``queries`` ``(nq, words)`` over the first ``size`` columns of ``words`` ``(words, capacity)``.

    Returns ``(distances int32, positions int64)`` of shape ``(nq, min(k, size))``, each row ordered by
    (distance, position). See the module docstring for the example and the algorithm.
    """
    k_eff = min(int(k), int(size))
    nq = queries.shape[0]
    if k_eff <= 0 or nq == 0:
        return np.zeros((nq, 0), dtype=np.int32), np.zeros((nq, 0), dtype=np.int64)
    n_qblocks = (nq + QUERY_BLOCK - 1) // QUERY_BLOCK
    with keep_torch_threads():  # numba.get_num_threads() already starts numba's threading layer
        threads = numba.get_num_threads()
        n_slices = 1 if n_qblocks >= 2 * threads else max(1, min(2 * threads, size // (8 * CHUNK)))
        distances, positions, _ = _search_parallel(
            np.ascontiguousarray(queries, dtype=np.uint64), words, int(size), k_eff, int(bits), n_slices
        )
    return distances, positions
