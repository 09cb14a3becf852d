"""``HammingIndex``: exact Hamming top-k search over binary codes, with deterministic ties.

Codes are stored packed (``ceil(bits / 64)`` ``uint64`` words per code, word-major for the
kernel in :mod:`cmhash_hf.retrieval.kernels`). Results are ordered by (distance, insertion
order), so equal distances always come back in the order the codes were added, and the result
equals a brute-force stable sort.

Ids are ``int64``; they default to insertion positions (0, 1, 2, ...). String ids are not
supported: keep your own list of keys and use positions into it as ids.

The first search in a fresh environment compiles the numba kernel (a few seconds); the compiled
code is cached on disk for later processes.

Example:
    >>> import numpy as np
    >>> index = HammingIndex(bits=4)
    >>> index.add(np.array([[1, 1, 1, 1], [1, -1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, 1]]), ids=[10, 11, 12, 13])
    >>> distances, ids = index.search(np.array([1, 1, 1, -1]), k=3)
    >>> distances.tolist(), ids.tolist()
    ([[1, 2, 2]], [[10, 11, 13]])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .index_format import read_index_file, write_index_file
from .kernels import search_top_k
from .packing import as_packed, check_ids, check_k, packed_to_words

__all__ = ["HammingIndex"]


class HammingIndex:
    """Exact Hamming top-k index over ``bits``-bit binary codes.

    Args:
        bits: code length in bits (any positive integer).

    Codes may be ``{-1, +1}`` or ``{0, 1}`` arrays (numpy or torch) or packed ``uint8`` rows from
    :func:`~cmhash_hf.retrieval.pack_codes`; a wrong width, dtype or value raises one clear error.

    Example:
        >>> index = HammingIndex(bits=8)
        >>> index.add(np.array([[1] * 8, [-1] * 8], dtype=np.int8))
        >>> len(index), index.search(np.array([[-1] * 8]), k=5)[1].tolist()
        (2, [[1, 0]])
    """

    def __init__(self, bits: int) -> None:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        self.bits = int(bits)
        self._n_words = (self.bits + 63) // 64
        self._words = np.zeros((self._n_words, 0), dtype=np.uint64)
        self._ids = np.zeros(0, dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def __repr__(self) -> str:
        return f"HammingIndex(bits={self.bits}, size={self._size})"

    def _reserve(self, needed: int) -> None:
        """Grow the storage geometrically so repeated ``add`` calls stay linear overall."""
        capacity = self._words.shape[1]
        if needed <= capacity:
            return
        capacity = max(needed, 2 * capacity, 1024)
        words = np.zeros((self._n_words, capacity), dtype=np.uint64)
        words[:, : self._size] = self._words[:, : self._size]
        ids = np.zeros(capacity, dtype=np.int64)
        ids[: self._size] = self._ids[: self._size]
        self._words, self._ids = words, ids

    def add(self, codes: Any, ids: Any = None) -> None:
        """Append ``codes`` (``(n, bits)`` ±1/0-1 values or packed rows) with optional ``int64`` ``ids``.

        Without ``ids`` each code gets its insertion position (``len(index)`` before the call, + 1, ...).

        Example:
            >>> index = HammingIndex(bits=8)
            >>> index.add(np.ones((2, 8)))
            >>> index.add(np.ones((1, 8)), ids=[42])
            >>> index.ids.tolist()
            [0, 1, 42]
        """
        packed, _ = as_packed(codes, self.bits)
        count = packed.shape[0]
        new_ids = check_ids(ids, count, self._size)
        self._reserve(self._size + count)
        self._words[:, self._size : self._size + count] = packed_to_words(packed).T
        self._ids[self._size : self._size + count] = new_ids
        self._size += count

    def search(self, query_codes: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-``k`` by Hamming distance; returns ``(distances int32, ids int64)`` of shape ``(nq, min(k, len))``.

        Rows are ordered by (distance, insertion order). A 1-D query is read as one row.

        Example:
            >>> index = HammingIndex(bits=8)
            >>> index.add(np.array([[1] * 8, [1] * 7 + [-1], [1] * 8]))
            >>> index.search(np.ones(8), k=2)[1].tolist()
            [[0, 2]]
        """
        k = check_k(k)
        packed, _ = as_packed(query_codes, self.bits, name="query codes")
        queries = packed_to_words(packed)
        distances, positions = search_top_k(queries, self._words, self._size, k, self.bits)
        return distances, self._ids[positions]

    @property
    def ids(self) -> np.ndarray:
        """The ``int64`` ids in insertion order (a copy)."""
        return self._ids[: self._size].copy()

    def packed_codes(self) -> np.ndarray:
        """The stored codes as packed ``uint8`` rows in insertion order (see :func:`~cmhash_hf.retrieval.pack_codes`).

        Example:
            >>> index = HammingIndex(bits=8)
            >>> index.add(np.array([[1, 1, 1, 1, -1, -1, -1, -1]]))
            >>> index.packed_codes().tolist()
            [[240]]
        """
        words = np.ascontiguousarray(self._words[:, : self._size].T).astype("<u8", copy=False)
        return words.view(np.uint8)[:, : (self.bits + 7) // 8].copy()

    def save(self, path: str | os.PathLike) -> Path:
        """Write the index to one file atomically (format in :mod:`cmhash_hf.retrieval.index_format`); return the path."""
        return write_index_file(path, self.bits, self.packed_codes(), self.ids)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HammingIndex":
        """Read an index written by :meth:`save`; a truncated or altered file raises ``ValueError``.

        Example:
            >>> import tempfile, pathlib
            >>> index = HammingIndex(bits=16)
            >>> index.add(np.ones((3, 16)), ids=[5, 6, 7])
            >>> path = index.save(pathlib.Path(tempfile.mkdtemp()) / "index.cmhash")
            >>> restored = HammingIndex.load(path)
            >>> len(restored), restored.ids.tolist()
            (3, [5, 6, 7])
        """
        bits, packed, ids = read_index_file(path)
        index = cls(bits)
        index.add(packed, ids=ids)
        return index
