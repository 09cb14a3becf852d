"""The on-disk format of :class:`~cmhash_hf.retrieval.HammingIndex`: a header, the packed codes, the ids and a checksum.

Layout (little-endian), version 1::

    magic    8 bytes   b"CMHASHIX"
    version  uint32    1
    bits     uint32    code length in bits
    count    uint64    number of codes
    codes    count * ceil(bits / 8) bytes   packed rows (see :func:`~cmhash_hf.retrieval.pack_codes`)
    ids      count * 8 bytes                int64
    sha256   32 bytes  digest of everything before it

Nothing is unpickled; a file with a wrong magic, version, size or checksum is rejected with a
``ValueError`` naming the file and the problem. Writes are atomic.

Example:
    >>> import tempfile, pathlib, numpy as np
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "codes.cmhash"
    >>> _ = write_index_file(path, 8, np.array([[7], [9]], dtype=np.uint8), np.array([10, 20]))
    >>> bits, packed, ids = read_index_file(path)
    >>> bits, packed.ravel().tolist(), ids.tolist()
    (8, [7, 9], [10, 20])
"""

from __future__ import annotations

import hashlib
import os
import struct
from pathlib import Path

import numpy as np

from ..file_utils import atomic_write_bytes

__all__ = ["MAGIC", "FORMAT_VERSION", "write_index_file", "read_index_file"]

MAGIC = b"CMHASHIX"
FORMAT_VERSION = 1
_HEADER = struct.Struct("<8sIIQ")
_DIGEST_SIZE = 32


def write_index_file(path: str | os.PathLike, bits: int, packed: np.ndarray, ids: np.ndarray) -> Path:
    """Write packed ``uint8`` codes and their ``int64`` ids to ``path`` atomically; return the path."""
    header = _HEADER.pack(MAGIC, FORMAT_VERSION, int(bits), int(packed.shape[0]))
    body = header + np.ascontiguousarray(packed, dtype=np.uint8).tobytes() + np.asarray(ids, dtype="<i8").tobytes()
    return atomic_write_bytes(path, body + hashlib.sha256(body).digest())


def read_index_file(path: str | os.PathLike) -> tuple[int, np.ndarray, np.ndarray]:
    """Read and verify a file from :func:`write_index_file`; return ``(bits, packed codes, ids)``."""
    path = Path(path)
    data = path.read_bytes()
    if len(data) < _HEADER.size + _DIGEST_SIZE:
        raise ValueError(f"{path}: truncated index file ({len(data)} bytes is shorter than the header)")
    magic, version, bits, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise ValueError(f"{path}: not a cmhash-hf Hamming index file (bad magic {magic!r})")
    if version != FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported index format version {version} (this library reads {FORMAT_VERSION})")
    if bits < 1:
        raise ValueError(f"{path}: corrupted header (bits = {bits})")
    nbytes = (bits + 7) // 8
    expected = _HEADER.size + count * (nbytes + 8) + _DIGEST_SIZE
    if len(data) != expected:
        problem = "truncated" if len(data) < expected else "has trailing data"
        raise ValueError(f"{path}: index file {problem} (expected {expected} bytes for {count} codes, found {len(data)})")
    body, digest = data[:-_DIGEST_SIZE], data[-_DIGEST_SIZE:]
    if hashlib.sha256(body).digest() != digest:
        raise ValueError(f"{path}: checksum mismatch, the index file is corrupted or was altered")
    codes_end = _HEADER.size + count * nbytes
    packed = np.frombuffer(body, dtype=np.uint8, count=count * nbytes, offset=_HEADER.size).reshape(count, nbytes)
    ids = np.frombuffer(body, dtype="<i8", count=count, offset=codes_end).astype(np.int64)
    return int(bits), packed.copy(), ids
