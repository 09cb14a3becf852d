"""Retrieval with binary codes: packing, Hamming distances, the exact ``HammingIndex`` and a FAISS approximate index.

Example:
    >>> import numpy as np
    >>> from cmhash_hf.retrieval import HammingIndex
    >>> index = HammingIndex(bits=8)
    >>> index.add(np.array([[1] * 8, [-1] * 8]))
    >>> index.search(np.array([[1] * 7 + [-1]]), k=1)
    (array([[1]], dtype=int32), array([[0]]))
"""

from .faiss_index import ApproximateHammingIndex
from .index import HammingIndex
from .packing import hamming_distance, pack_codes, unpack_codes

__all__ = ["ApproximateHammingIndex", "HammingIndex", "hamming_distance", "pack_codes", "unpack_codes"]
