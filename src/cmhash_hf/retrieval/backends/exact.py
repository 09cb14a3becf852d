"""The ``exact`` backend: the in-process :class:`~cmhash_hf.retrieval.HammingIndex`, saved as one file per table.

``uri`` is a folder (or ``None`` for an index in memory only); table ``T`` is the file ``T.cmhash`` there,
written atomically by :meth:`ExactIndex.save`. Search is exact, and equal distances come back in insertion
order.

Example:
    >>> import numpy as np
    >>> index = ExactIndex.create(4)
    >>> index.add(np.array([[1, 1, 1, 1], [1, 1, 1, -1], [1, 1, 1, -1]]), ids=[7, 3, 5])
    >>> index.search(np.array([[1, 1, 1, -1]]), k=3)
    (array([[0, 0, 1]], dtype=int32), array([[3, 5, 7]]))
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..index import HammingIndex
from .base import CodeIndex

__all__ = ["ExactIndex"]

SUFFIX = ".cmhash"


class ExactIndex(CodeIndex):
    """Exact Hamming top-k in process (numba kernel), ties in insertion order; one file per table."""

    name = "exact"
    kinds = ("flat",)
    stable_ties = True

    def __init__(self, index: HammingIndex, uri: str | None, table: str) -> None:
        super().__init__(index.bits, uri, table, "flat", {})
        self.index = index

    @staticmethod
    def path(uri: str, table: str) -> Path:
        """The file of ``table`` in folder ``uri``."""
        return Path(uri) / f"{table}{SUFFIX}"

    @classmethod
    def _create(cls, bits: int, uri: str | None, table: str, kind: str, overwrite: bool,
                options: dict[str, Any]) -> "ExactIndex":
        cls.with_defaults(options)
        if uri is not None:
            path = cls.path(uri, table)
            if path.is_file() and not overwrite:
                raise ValueError(f"{path} already exists: pass overwrite=True (--overwrite) to replace it, or choose another table")
        return cls(HammingIndex(bits), uri, table)

    @classmethod
    def _open(cls, uri: str, table: str, options: dict[str, Any]) -> "ExactIndex":
        path = cls.path(uri, table)
        if not path.is_file():
            raise OSError(f"No 'exact' index at {uri} (table {table!r}): {path} is missing")
        return cls(HammingIndex.load(path), uri, table)

    def _add(self, packed: np.ndarray, ids: np.ndarray) -> None:
        self.index.add(packed, ids=ids)

    def _search(self, packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return self.index.search(packed, k)

    def __len__(self) -> int:
        return len(self.index)

    def packed_codes(self) -> np.ndarray:
        """The stored codes as packed ``uint8`` rows in insertion order."""
        return self.index.packed_codes()

    @property
    def ids(self) -> np.ndarray:
        """The ids in insertion order."""
        return self.index.ids

    def save(self) -> None:
        """Write ``<uri>/<table>.cmhash`` atomically.

        Raises:
            ValueError: the index was created without a ``uri``.
        """
        if self.uri is None:
            raise ValueError("This exact index was created without a uri (a folder): create it with one to save it")
        self.index.save(self.path(self.uri, self.table))
