"""Index backends: one interface (:class:`CodeIndex`), a registry, and the four engines behind it.

====================  ==============================================  ======================
name                  where the codes live                            kinds
====================  ==============================================  ======================
``exact``             in process (numba kernel), one file per table   flat
``faiss``             in process (FAISS), one file per table          ivf, hnsw, flat
``milvus``            Milvus Lite file or a Milvus server / cluster    flat, ivf
``lancedb``           LanceDB table in a folder or object storage     flat, ivf
====================  ==============================================  ======================

A new backend is one module with a :class:`CodeIndex` subclass plus one :func:`register_backend` line
here; ``tests/test_backends.py`` runs its conformance suite over every registered name.

Example:
    >>> get_backend("exact").kinds, get_backend("milvus").kinds
    (('flat',), ('flat', 'ivf'))
"""

from .base import CodeIndex, get_backend, list_backends, order_results, register_backend, require_package

register_backend("exact", "cmhash_hf.retrieval.backends.exact:ExactIndex")
register_backend("faiss", "cmhash_hf.retrieval.backends.faiss_backend:FaissIndex")
register_backend("milvus", "cmhash_hf.retrieval.backends.milvus:MilvusIndex")
register_backend("lancedb", "cmhash_hf.retrieval.backends.lancedb_backend:LanceDBIndex")

__all__ = ["CodeIndex", "get_backend", "list_backends", "order_results", "register_backend", "require_package"]
