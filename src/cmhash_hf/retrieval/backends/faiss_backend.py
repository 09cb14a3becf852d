"""The ``faiss`` backend: FAISS binary indexes (flat, IVF, HNSW) in process, saved as one file per table.

* ``kind="flat"`` — ``IndexBinaryFlat``: exact brute force (the ``exact`` backend is faster, see
  ``benchmarks/search_speed.py``);
* ``kind="ivf"`` — ``IndexBinaryIVF``: codes grouped around ``nlist`` centroids trained on the codes
  added before the first search or save (default ``4 * sqrt(n)``, at most ``n / 39``); a query scans
  ``nprobe`` groups;
* ``kind="hnsw"`` — ``IndexBinaryHNSW`` with ``hnsw_neighbors`` links per node, searched with
  ``ef_search`` candidates.

The FAISS index is built at the first search or :meth:`FaissIndex.save` after codes were added;
later additions go straight into it. ``uri`` is a folder and table ``T`` the file ``T.faiss`` there:
a JSON header (bits, kind, options) followed by FAISS's own serialisation (or the raw codes and ids of
an index not built yet), written atomically. Any code width works (codes are zero-padded to whole
bytes, which leaves Hamming distances unchanged).

Example:
    >>> import numpy as np, tempfile
    >>> codes = np.where(np.random.default_rng(0).random((2000, 64)) < 0.5, -1, 1)
    >>> folder = tempfile.mkdtemp()
    >>> index = FaissIndex.create(64, folder, kind="ivf", nlist=8, nprobe=8)
    >>> index.add(codes)
    >>> index.save()
    >>> FaissIndex.open(folder).search(codes[:2], k=1)
    (array([[0],
           [0]], dtype=int32), array([[0],
           [1]]))
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ...file_utils import atomic_write_bytes
from .base import CodeIndex, order_results, require_package

__all__ = ["FaissIndex"]

SUFFIX = ".faiss"
MAGIC = b"CMHFAISS"
_DEFAULTS = {"nlist": None, "nprobe": 16, "hnsw_neighbors": 32, "ef_search": 128}


class FaissIndex(CodeIndex):
    """FAISS binary flat / IVF / HNSW index (see the module docstring); options ``nlist``, ``nprobe``,
    ``hnsw_neighbors``, ``ef_search``."""

    name = "faiss"
    kinds = ("ivf", "hnsw", "flat")
    package = "faiss-cpu"
    defaults = _DEFAULTS

    def __init__(self, bits: int, uri: str | None, table: str, kind: str, options: dict[str, Any]) -> None:
        super().__init__(bits, uri, table, kind, self.with_defaults(options))
        self._faiss_module = require_package("faiss", self.package, self.name)
        self._nbytes = (bits + 7) // 8
        self._pending_codes: list[np.ndarray] = []
        self._pending_ids: list[np.ndarray] = []
        self._index: Any = None

    @staticmethod
    def path(uri: str, table: str) -> Path:
        return Path(uri) / f"{table}{SUFFIX}"

    @classmethod
    def _create(cls, bits: int, uri: str | None, table: str, kind: str, overwrite: bool,
                options: dict[str, Any]) -> "FaissIndex":
        if uri is not None and cls.path(uri, table).is_file() and not overwrite:
            raise ValueError(f"{cls.path(uri, table)} already exists: pass overwrite=True (--overwrite) to replace it")
        return cls(bits, uri, table, kind, options)

    @classmethod
    def _open(cls, uri: str, table: str, options: dict[str, Any]) -> "FaissIndex":
        path = cls.path(uri, table)
        if not path.is_file():
            raise OSError(f"No 'faiss' index at {uri} (table {table!r}): {path} is missing")
        data = path.read_bytes()
        if data[:8] != MAGIC:
            raise ValueError(f"{path} is not a cmhash-hf FAISS index file (bad magic)")
        (size,) = struct.unpack_from("<Q", data, 8)
        header = json.loads(data[16 : 16 + size])
        body = memoryview(data)[16 + size :]
        index = cls(header["bits"], uri, table, header["kind"], {**header["options"], **options})
        if header["built"]:
            index._index = index._faiss_module.deserialize_index_binary(np.frombuffer(body, dtype=np.uint8))
            index._apply_search_options()
        elif header["count"]:
            count, nbytes = header["count"], index._nbytes
            index._pending_codes = [np.frombuffer(body, dtype=np.uint8, count=count * nbytes).reshape(count, nbytes)]
            index._pending_ids = [np.frombuffer(body, dtype="<i8", count=count, offset=count * nbytes).astype(np.int64)]
        return index

    # ------------------------------------------------------------------ building
    def _pending(self) -> tuple[np.ndarray, np.ndarray]:
        codes = np.concatenate(self._pending_codes) if self._pending_codes else np.zeros((0, self._nbytes), np.uint8)
        ids = np.concatenate(self._pending_ids) if self._pending_ids else np.zeros(0, np.int64)
        return codes, ids

    def _apply_search_options(self) -> None:
        faiss = self._faiss_module
        if self.kind == "ivf":
            ivf = faiss.downcast_IndexBinary(self._index)
            ivf.nprobe = min(int(self.options["nprobe"]), ivf.nlist)
        elif self.kind == "hnsw":
            faiss.downcast_IndexBinary(self._index.index).hnsw.efSearch = int(self.options["ef_search"])

    def _build(self) -> None:
        """Create (and for IVF train) the FAISS index from the pending codes."""
        faiss = self._faiss_module
        codes, ids = self._pending()
        d = 8 * self._nbytes
        if self.kind == "ivf":
            n = codes.shape[0]
            nlist = self.options["nlist"] or int(4 * np.sqrt(n))
            nlist = max(1, min(int(nlist), n // 39))
            self._quantizer = faiss.IndexBinaryFlat(d)
            index = faiss.IndexBinaryIVF(self._quantizer, d, nlist)
            index.train(codes)
            index.own_fields = False
        elif self.kind == "hnsw":
            index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryHNSW(d, int(self.options["hnsw_neighbors"])))
        else:
            index = faiss.IndexBinaryIDMap2(faiss.IndexBinaryFlat(d))
        index.add_with_ids(codes, ids)
        self._index = index
        self._apply_search_options()
        self._pending_codes, self._pending_ids = [], []

    def _add(self, packed: np.ndarray, ids: np.ndarray) -> None:
        if self._index is None:
            self._pending_codes.append(packed)
            self._pending_ids.append(ids)
        else:
            self._index.add_with_ids(packed, ids)

    def _search(self, packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if self._index is None:
            self._build()
        distances, ids = self._index.search(packed, k)
        distances = np.where(ids < 0, -1, distances)
        return order_results(distances, ids, k)

    def __len__(self) -> int:
        built = 0 if self._index is None else int(self._index.ntotal)
        return built + sum(len(ids) for ids in self._pending_ids)

    def save(self) -> None:
        """Build the FAISS index (if codes are pending and the IVF has enough to train on) and write ``<uri>/<table>.faiss``.

        Raises:
            ValueError: the index was created without a ``uri``.
        """
        if self.uri is None:
            raise ValueError("This faiss index was created without a uri (a folder): create it with one to save it")
        if self._index is None and len(self):
            self._build()
        built = self._index is not None
        header = {"bits": self.bits, "kind": self.kind, "options": self.options, "built": built, "count": len(self)}
        if built:
            body = self._faiss_module.serialize_index_binary(self._index).tobytes()
        else:
            codes, ids = self._pending()
            body = codes.tobytes() + ids.astype("<i8").tobytes()
        encoded = json.dumps(header).encode()
        atomic_write_bytes(self.path(self.uri, self.table), MAGIC + struct.pack("<Q", len(encoded)) + encoded + body)
