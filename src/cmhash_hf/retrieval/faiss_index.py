"""``ApproximateHammingIndex``: FAISS binary IVF or HNSW search for collections beyond exact brute force.

Exact search (:class:`~cmhash_hf.retrieval.HammingIndex`) reads every code for every query block;
when that is too slow, an approximate index visits only part of the collection:

* ``method="ivf"`` — ``faiss.IndexBinaryIVF``: codes are grouped around ``nlist`` centroids
  (trained on the added codes) and a query scans the ``nprobe`` nearest groups;
* ``method="hnsw"`` — ``faiss.IndexBinaryHNSW``: a navigable small-world graph, searched with
  ``ef_search`` candidates.

Results are approximate (recall below 1 is expected), and ties are not ordered by insertion.
The FAISS index is built lazily at the first search after an ``add``. There is no ``save``: keep
the exact index on disk and rebuild with :meth:`ApproximateHammingIndex.from_index`. Code length
must be a multiple of 8 (a FAISS requirement). Ids are ``int64`` like the exact index; rows with
fewer than ``k`` results found are padded with distance ``-1`` and id ``-1``.

Example:
    >>> import numpy as np
    >>> codes = np.where(np.random.default_rng(0).random((2000, 64)) < 0.5, -1, 1)
    >>> index = ApproximateHammingIndex(64, method="ivf", nlist=8, nprobe=8)
    >>> index.add(codes)
    >>> distances, ids = index.search(codes[:2], k=1)
    >>> distances.tolist(), ids.tolist()
    ([[0], [0]], [[0], [1]])
"""

from __future__ import annotations

from typing import Any

import faiss
import numpy as np

from .index import HammingIndex
from .packing import as_packed

__all__ = ["ApproximateHammingIndex"]

_METHODS = ("ivf", "hnsw")


class ApproximateHammingIndex:
    """Approximate Hamming top-k search backed by FAISS (see the module docstring).

    Args:
        bits: code length, a multiple of 8.
        method: ``"ivf"`` or ``"hnsw"``.
        nlist: IVF groups; default ``4 * sqrt(n)`` (at least 1, at most n / 39 so training has data).
        nprobe: IVF groups scanned per query.
        hnsw_neighbors: HNSW graph degree ``M``.
        ef_search: HNSW candidate list length at search time.
    """

    def __init__(
        self,
        bits: int,
        method: str = "ivf",
        *,
        nlist: int | None = None,
        nprobe: int = 16,
        hnsw_neighbors: int = 32,
        ef_search: int = 128,
    ) -> None:
        if method not in _METHODS:
            raise ValueError(f"method must be one of {_METHODS}, got {method!r}")
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 8 or bits % 8:
            raise ValueError(f"bits must be a positive multiple of 8 for FAISS binary indexes, got {bits!r}")
        self.bits = int(bits)
        self.method = method
        self.nlist = nlist
        self.nprobe = int(nprobe)
        self.hnsw_neighbors = int(hnsw_neighbors)
        self.ef_search = int(ef_search)
        self._store = HammingIndex(self.bits)
        self._faiss: Any = None

    @classmethod
    def from_index(cls, index: HammingIndex, method: str = "ivf", **options: Any) -> "ApproximateHammingIndex":
        """Build from the codes and ids of an exact :class:`HammingIndex` (e.g. one loaded from disk).

        Example:
            >>> exact = HammingIndex(16)
            >>> exact.add(np.ones((4, 16)), ids=[3, 1, 4, 1])
            >>> len(ApproximateHammingIndex.from_index(exact, method="hnsw"))
            4
        """
        approximate = cls(index.bits, method, **options)
        approximate.add(index.packed_codes(), ids=index.ids)
        return approximate

    def __len__(self) -> int:
        return len(self._store)

    def add(self, codes: Any, ids: Any = None) -> None:
        """Append codes (same forms and ids as :meth:`HammingIndex.add`); the FAISS index is rebuilt at the next search."""
        self._store.add(codes, ids=ids)
        self._faiss = None

    def _build(self) -> Any:
        """Train (IVF) and fill the FAISS index from every stored code."""
        packed = self._store.packed_codes()
        n = packed.shape[0]
        if self.method == "hnsw":
            index = faiss.IndexBinaryHNSW(self.bits, self.hnsw_neighbors)
            index.hnsw.efSearch = self.ef_search
        else:
            nlist = self.nlist or int(4 * np.sqrt(n))
            nlist = max(1, min(nlist, n // 39))
            index = faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(self.bits), self.bits, nlist)
            index.train(packed)
            index.nprobe = min(self.nprobe, nlist)
        index.add(packed)
        return index

    def search(self, query_codes: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Approximate top-``k``; returns ``(distances int32, ids int64)`` of shape ``(nq, min(k, len))``.

        Example:
            >>> index = ApproximateHammingIndex(8, method="hnsw")
            >>> index.add(np.array([[1] * 8, [-1] * 8]))
            >>> index.search(np.array([[-1] * 8]), k=1)[1].tolist()
            [[1]]
        """
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
            raise ValueError(f"k must be a positive integer, got {k!r}")
        packed, _ = as_packed(query_codes, self.bits, name="query codes")
        k_eff = min(int(k), len(self))
        if k_eff == 0:
            return np.zeros((packed.shape[0], 0), dtype=np.int32), np.zeros((packed.shape[0], 0), dtype=np.int64)
        if self._faiss is None:
            self._faiss = self._build()
        distances, positions = self._faiss.search(packed, k_eff)
        missing = positions < 0
        ids = self._store.ids[np.where(missing, 0, positions)]
        ids[missing] = -1
        distances = distances.astype(np.int32)
        distances[missing] = -1
        return distances, ids
