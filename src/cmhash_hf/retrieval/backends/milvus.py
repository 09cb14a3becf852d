"""The ``milvus`` backend: a Milvus collection with a ``BINARY_VECTOR`` field searched by ``HAMMING`` distance.

``uri`` is either a local file path ending in ``.db`` — Milvus Lite, embedded in this process (tests,
laptops; ``pip install 'milvus-lite==2.5.1'``: the 3.x line rejects binary vectors) — or the address of a
Milvus standalone server or cluster, ``http://host:19530`` (a token, if the server needs one, is read from
the ``MILVUS_TOKEN`` environment variable so it never lands in a saved collection). Table ``T`` is the
collection ``T``: an ``INT64`` primary key ``id`` and the codes, zero-padded to whole bytes.

* ``kind="flat"`` — ``BIN_FLAT``: exact distances;
* ``kind="ivf"`` — ``BIN_IVF_FLAT`` with ``nlist`` clusters, searched with ``nprobe`` (a Milvus server
  only: Milvus Lite offers ``BIN_FLAT`` alone).

Insertion is batched (``insert_batch`` rows per request); collections use strong consistency, so a
search sees every code added before it. ``len`` counts the rows added through this handle plus those
there when it was opened. Milvus caps ``k`` (and queries per request) at 16,384.

Example:
    >>> import numpy as np, tempfile, os
    >>> index = MilvusIndex.create(16, os.path.join(tempfile.mkdtemp(), "codes.db"))
    >>> index.add(np.array([[1] * 16, [-1] * 16]))
    >>> index.search(np.array([[1] * 15 + [-1]]), k=2)
    (array([[ 1, 15]], dtype=int32), array([[0, 1]]))
    >>> index.close()
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np

from .base import CodeIndex, order_results, require_package

__all__ = ["MilvusIndex"]

MAX_K = 16384
_DEFAULTS = {"nlist": 128, "nprobe": 16, "insert_batch": 10000, "timeout": 10.0}
_INDEX_TYPES = {"flat": "BIN_FLAT", "ivf": "BIN_IVF_FLAT"}
_CONNECTIONS: dict[str, list[Any]] = {}
_LOCK = threading.Lock()


def _is_server(uri: str) -> bool:
    return uri.startswith(("http://", "https://", "tcp://", "unix:"))


def _connect(uri: str, timeout: float) -> Any:
    """A shared ``MilvusClient`` for ``uri`` (reference-counted), or one ``OSError`` naming the uri."""
    pymilvus = require_package("pymilvus", "pymilvus", "milvus")
    key = uri if _is_server(uri) else str(Path(uri).absolute())
    with _LOCK:
        if key in _CONNECTIONS:
            _CONNECTIONS[key][1] += 1
            return _CONNECTIONS[key][0]
        if not _is_server(uri):
            if not uri.endswith(".db"):
                raise ValueError(f"A Milvus uri is http://host:port or a local Milvus Lite file ending in .db, got {uri!r}")
            require_package("milvus_lite", "milvus-lite==2.5.1", "milvus")
            Path(key).parent.mkdir(parents=True, exist_ok=True)
        # pymilvus logs a failed connection itself before raising (two loggers with levels of their own)
        quiet = [logging.getLogger(name) for name in ("pymilvus", "pymilvus.milvus_client")]
        levels = [logger.level for logger in quiet]
        for logger in quiet:
            logger.setLevel(logging.CRITICAL)
        try:
            client = pymilvus.MilvusClient(key, token=os.environ.get("MILVUS_TOKEN", ""), timeout=timeout)
        except Exception as err:  # pymilvus raises its own exception types for every connection problem
            raise OSError(f"Cannot reach Milvus at {uri}: {err}. Start the server (or check the address), "
                          "or give a local file path ending in .db to use Milvus Lite") from err
        finally:
            for logger, level in zip(quiet, levels):
                logger.setLevel(level)
        _CONNECTIONS[key] = [client, 1]
        return client


def _release(uri: str) -> None:
    key = uri if _is_server(uri) else str(Path(uri).absolute())
    with _LOCK:
        entry = _CONNECTIONS.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] == 0:
            del _CONNECTIONS[key]
            entry[0].close()
            if not _is_server(uri):  # stop the embedded Milvus Lite server, which pymilvus leaves running
                from milvus_lite.server_manager import server_manager_instance

                server_manager_instance.release_server(key)


class MilvusIndex(CodeIndex):
    """Codes in a Milvus collection (see the module docstring); options ``nlist``, ``nprobe``,
    ``insert_batch`` and ``timeout`` (seconds to wait for a server)."""

    name = "milvus"
    kinds = ("flat", "ivf")
    local_kinds = ("flat",)
    package = "pymilvus"
    defaults = _DEFAULTS

    def __init__(self, bits: int, uri: str, table: str, kind: str, options: dict[str, Any], client: Any,
                 size: int) -> None:
        super().__init__(bits, uri, table, kind, options)
        self._client = client
        self._size = size

    @staticmethod
    def _stored_bits(client: Any, table: str) -> tuple[int, str]:
        """(bits, kind) recorded in an existing collection's description."""
        description = client.describe_collection(table)
        try:
            meta = json.loads(description.get("description") or "{}")
            return int(meta["bits"]), str(meta.get("kind", "flat"))
        except (ValueError, KeyError, TypeError):
            dims = [f["params"].get("dim") for f in description["fields"] if f.get("name") == "code"]
            return (int(dims[0]) if dims else 0), "flat"

    @classmethod
    def _create(cls, bits: int, uri: str | None, table: str, kind: str, overwrite: bool,
                options: dict[str, Any]) -> "MilvusIndex":
        if uri is None:
            raise ValueError("The 'milvus' backend needs a uri: a local file path ending in .db, or http://host:19530")
        options = cls.with_defaults(options)
        if kind != "flat" and not _is_server(uri):
            raise ValueError(f"Milvus Lite ({uri}) offers only BIN_FLAT (kind='flat'); kind={kind!r} "
                             f"({_INDEX_TYPES[kind]}) needs a Milvus server: give its address, http://host:19530")
        pymilvus = require_package("pymilvus", "pymilvus", "milvus")
        client = _connect(uri, float(options["timeout"]))
        try:
            if client.has_collection(table):
                if not overwrite:
                    stored, _ = cls._stored_bits(client, table)
                    width = "" if stored == bits else f", of another code width ({stored} bits, not {bits})"
                    raise ValueError(f"Milvus at {uri} already holds a collection {table!r}{width}: pass overwrite=True "
                                     "(--overwrite) to replace it, or choose another table")
                client.drop_collection(table)
            schema = client.create_schema(auto_id=False, description=json.dumps({"bits": bits, "kind": kind}))
            schema.add_field("id", pymilvus.DataType.INT64, is_primary=True)
            schema.add_field("code", pymilvus.DataType.BINARY_VECTOR, dim=8 * ((bits + 7) // 8))
            index_params = client.prepare_index_params()
            params = {"nlist": int(options["nlist"])} if kind == "ivf" else {}
            index_params.add_index(field_name="code", index_type=_INDEX_TYPES[kind], metric_type="HAMMING", params=params)
            client.create_collection(table, schema=schema, index_params=index_params, consistency_level="Strong")
        except BaseException:
            _release(uri)
            raise
        return cls(bits, uri, table, kind, options, client, 0)

    @classmethod
    def _open(cls, uri: str, table: str, options: dict[str, Any]) -> "MilvusIndex":
        options = cls.with_defaults(options)
        client = _connect(uri, float(options["timeout"]))
        try:
            if not client.has_collection(table):
                raise OSError(f"Milvus at {uri} holds no collection {table!r} (build one with `cmhash index --backend milvus`)")
            bits, kind = cls._stored_bits(client, table)
            client.load_collection(table)
            count = client.query(table, filter="", output_fields=["count(*)"], consistency_level="Strong")[0]["count(*)"]
        except BaseException:
            _release(uri)
            raise
        return cls(bits, uri, table, kind, options, client, int(count))

    def _add(self, packed: np.ndarray, ids: np.ndarray) -> None:
        step = int(self.options["insert_batch"])
        for start in range(0, len(ids), step):
            rows = [{"id": int(i), "code": code.tobytes()}
                    for i, code in zip(ids[start : start + step], packed[start : start + step])]
            self._client.insert(self.table, rows)
        self._size += len(ids)

    def _search(self, packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        if k > MAX_K:
            raise ValueError(f"Milvus returns at most {MAX_K} results per query, got k={k}")
        params = {"metric_type": "HAMMING", "params": {"nprobe": int(self.options["nprobe"])} if self.kind == "ivf" else {}}
        distances = np.full((packed.shape[0], k), -1, dtype=np.int64)
        ids = np.full((packed.shape[0], k), -1, dtype=np.int64)
        step = 1024
        for start in range(0, packed.shape[0], step):
            queries = [row.tobytes() for row in packed[start : start + step]]
            results = self._client.search(self.table, data=queries, limit=k, anns_field="code", search_params=params)
            for offset, hits in enumerate(results):
                for j, hit in enumerate(hits[:k]):
                    distances[start + offset, j] = int(round(hit["distance"]))
                    ids[start + offset, j] = int(hit["id"])
        return order_results(distances, ids, k)

    def __len__(self) -> int:
        return self._size

    def save(self) -> None:
        """Flush the collection (seal the inserted rows into segments on the server's storage)."""
        self._client.flush(self.table)

    def close(self) -> None:
        """Release this handle's share of the connection to ``uri``."""
        if self._client is not None:
            _release(self.uri)
            self._client = None
