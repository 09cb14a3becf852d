"""The ``lancedb`` backend: a LanceDB table of packed codes (fixed-size lists of ``uint8``) searched by Hamming distance.

``uri`` is a local folder or an object-store URI (``s3://bucket/path``, ``gs://...``, ``az://...``; LanceDB
reads the usual cloud credentials from the environment); table ``T`` is the LanceDB table ``T``: columns
``id`` (``int64``) and ``code`` (``np.packbits`` rows, most significant bit first, zero-padded to whole
bytes), the code width in the schema's metadata.

* ``kind="flat"`` — every row is compared: exact distances;
* ``kind="ivf"`` — an ``IVF_FLAT`` index with Hamming distance and ``num_partitions`` partitions (default
  ``sqrt(n)``), built by :meth:`LanceDBIndex.save` once the table holds at least ``min_index_rows`` rows
  (LanceDB needs data to train it); searched with ``nprobes``. Rows added after the index are still found
  (LanceDB scans them flat).

Example:
    >>> import numpy as np, tempfile
    >>> index = LanceDBIndex.create(16, tempfile.mkdtemp())
    >>> index.add(np.array([[1] * 16, [-1] * 16]))
    >>> index.search(np.array([[1] * 15 + [-1]]), k=2)
    (array([[ 1, 15]], dtype=int32), array([[0, 1]]))
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from .base import CodeIndex, order_results, require_package

__all__ = ["LanceDBIndex"]

_DEFAULTS = {"num_partitions": None, "nprobes": 16, "min_index_rows": 1024}
_BITS_KEY = b"cmhash_bits"
_KIND_KEY = b"cmhash_kind"


def _lancedb() -> Any:
    os.environ.setdefault("LANCEDB_LOG", "error")  # LanceDB logs notices of its own at WARN level
    return require_package("lancedb", "lancedb", "lancedb")


def _connect(uri: str) -> Any:
    lancedb = _lancedb()
    try:
        return lancedb.connect(uri)
    except Exception as err:  # LanceDB raises its own error types for unreachable storage
        raise OSError(f"Cannot open LanceDB at {uri}: {err}") from err


class LanceDBIndex(CodeIndex):
    """Codes in a LanceDB table (see the module docstring); options ``num_partitions``, ``nprobes``, ``min_index_rows``."""

    name = "lancedb"
    kinds = ("flat", "ivf")
    package = "lancedb"
    defaults = _DEFAULTS

    def __init__(self, bits: int, uri: str, table: str, kind: str, options: dict[str, Any], handle: Any) -> None:
        super().__init__(bits, uri, table, kind, options)
        self._table = handle
        self._pa = require_package("pyarrow", "pyarrow", "lancedb")
        self._nbytes = (bits + 7) // 8
        self._size = handle.count_rows()

    @staticmethod
    def _table_names(db: Any) -> list[str]:
        listed = db.list_tables()
        return list(getattr(listed, "tables", listed))

    @classmethod
    def _create(cls, bits: int, uri: str | None, table: str, kind: str, overwrite: bool,
                options: dict[str, Any]) -> "LanceDBIndex":
        if uri is None:
            raise ValueError("The 'lancedb' backend needs a uri: a local folder or an object-store URI such as s3://bucket/path")
        options = cls.with_defaults(options)
        db = _connect(uri)
        if table in cls._table_names(db) and not overwrite:
            metadata = db.open_table(table).schema.metadata or {}
            stored = int(metadata.get(_BITS_KEY, b"0"))
            width = "" if stored == bits else f", of another code width ({stored} bits, not {bits})"
            raise ValueError(f"LanceDB at {uri} already holds a table {table!r}{width}: pass overwrite=True "
                             "(--overwrite) to replace it, or choose another table")
        pa = require_package("pyarrow", "pyarrow", "lancedb")
        schema = pa.schema(
            [pa.field("id", pa.int64()), pa.field("code", pa.list_(pa.uint8(), (bits + 7) // 8))],
            metadata={_BITS_KEY: str(bits).encode(), _KIND_KEY: kind.encode()},
        )
        handle = db.create_table(table, schema=schema, mode="overwrite")
        return cls(bits, uri, table, kind, options, handle)

    @classmethod
    def _open(cls, uri: str, table: str, options: dict[str, Any]) -> "LanceDBIndex":
        options = cls.with_defaults(options)
        db = _connect(uri)
        if table not in cls._table_names(db):
            raise OSError(f"LanceDB at {uri} holds no table {table!r} (build one with `cmhash index --backend lancedb`)")
        handle = db.open_table(table)
        metadata = handle.schema.metadata or {}
        if _BITS_KEY not in metadata:
            raise ValueError(f"LanceDB table {table!r} at {uri} was not written by cmhash-hf (no code width in its schema)")
        return cls(int(metadata[_BITS_KEY]), uri, table, metadata.get(_KIND_KEY, b"flat").decode(), options, handle)

    def _add(self, packed: np.ndarray, ids: np.ndarray) -> None:
        pa = self._pa
        codes = pa.FixedSizeListArray.from_arrays(pa.array(np.ascontiguousarray(packed).ravel(), pa.uint8()), self._nbytes)
        self._table.add(pa.table({"id": pa.array(ids, pa.int64()), "code": codes}, schema=self._table.schema))
        self._size += len(ids)

    def _search(self, packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        distances = np.full((packed.shape[0], k), -1, dtype=np.int64)
        ids = np.full((packed.shape[0], k), -1, dtype=np.int64)
        step = 256
        for start in range(0, packed.shape[0], step):
            block = list(packed[start : start + step])
            query = self._table.search(block if len(block) > 1 else block[0], vector_column_name="code")
            query = query.distance_type("hamming").limit(k)
            if self.kind == "ivf":
                query = query.nprobes(int(self.options["nprobes"]))
            result = query.to_arrow()
            which = (result.column("query_index").to_numpy() if "query_index" in result.column_names
                     else np.zeros(result.num_rows, dtype=np.int64))
            found_ids = result.column("id").to_numpy()
            found = np.rint(result.column("_distance").to_numpy()).astype(np.int64)
            for q in np.unique(which):
                rows = np.flatnonzero(which == q)[:k]
                distances[start + q, : len(rows)] = found[rows]
                ids[start + q, : len(rows)] = found_ids[rows]
        return order_results(distances, ids, k)

    def __len__(self) -> int:
        return self._size

    def save(self) -> None:
        """Build (or rebuild) the IVF index of an ``ivf`` table with enough rows; a flat table needs nothing."""
        if self.kind != "ivf" or self._size < int(self.options["min_index_rows"]):
            return
        from_lancedb = _lancedb()
        partitions = self.options["num_partitions"] or max(1, int(np.sqrt(self._size)))
        config = from_lancedb.index.IvfFlat(distance_type="hamming", num_partitions=int(partitions))
        self._table.create_index("code", config=config, replace=True)
