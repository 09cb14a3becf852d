"""Retrieval with binary codes: packing, Hamming distances, the index backends and collections.

* :mod:`~cmhash_hf.retrieval.packing` — codes to bits and back, Hamming distances;
* :class:`HammingIndex` — the exact in-process top-k kernel;
* :mod:`~cmhash_hf.retrieval.backends` — one index interface (:class:`CodeIndex`) with the registered
  backends ``exact``, ``faiss``, ``milvus`` and ``lancedb``;
* :class:`Collection` — the image and text codes of a collection in one backend, with what each item is
  (row, file, caption, labels), searched by code.

Example:
    >>> import numpy as np
    >>> from cmhash_hf.retrieval import HammingIndex
    >>> index = HammingIndex(bits=8)
    >>> index.add(np.array([[1] * 8, [-1] * 8]))
    >>> index.search(np.array([[1] * 7 + [-1]]), k=1)
    (array([[1]], dtype=int32), array([[0]]))
"""

from .backends import CodeIndex, get_backend, list_backends, register_backend
from .index import HammingIndex
from .packing import hamming_distance, pack_codes, unpack_codes
from .recall import tie_aware_recall

__all__ = [
    "CodeIndex",
    "HammingIndex",
    "get_backend",
    "hamming_distance",
    "list_backends",
    "pack_codes",
    "register_backend",
    "tie_aware_recall",
    "unpack_codes",
]
