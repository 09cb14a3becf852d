"""Binary codes: validation, packing to bits, unpacking and Hamming distances.

Two forms of codes are accepted everywhere in the library:

* **unpacked** — an ``(n, bits)`` array (numpy or torch; bool, integer or float dtype) whose
  values are all in ``{-1, +1}`` or all in ``{0, 1}`` (a positive value is a 1-bit);
* **packed** — an ``(n, ceil(bits / 8))`` ``uint8`` array as written by :func:`pack_codes`
  (most significant bit first, unused trailing bits zero). ``uint8`` always means packed:
  give ``{0, 1}`` codes as ``bool`` or ``int8`` to have them read as unpacked.

A single code may be given as a 1-D array; it is read as one row.

Example:
    >>> import numpy as np
    >>> codes = np.array([[1, -1, 1, 1, -1, -1, -1, 1]], dtype=np.int8)
    >>> pack_codes(codes)
    array([[177]], dtype=uint8)
    >>> unpack_codes(pack_codes(codes), bits=8).tolist()
    [[1, -1, 1, 1, -1, -1, -1, 1]]
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["pack_codes", "unpack_codes", "hamming_distance", "as_packed", "packed_to_words", "to_numpy", "check_ids", "check_k"]


def to_numpy(array: Any) -> np.ndarray:
    """Return ``array`` (numpy, torch tensor or nested sequence) as a numpy array, without copying numpy input.

    Example:
        >>> to_numpy([[1, -1]]).shape
        (1, 2)
    """
    if hasattr(array, "detach") and hasattr(array, "cpu"):
        array = array.detach().cpu().numpy()
    return np.asarray(array)


def as_packed(codes: Any, bits: int | None = None, *, name: str = "codes") -> tuple[np.ndarray, int]:
    """Validate ``codes`` (unpacked or packed, see the module docstring) and return ``(packed, bits)``.

    ``bits`` is checked when given and inferred otherwise (columns for unpacked codes, 8 × columns
    for packed ones). Raises ``TypeError`` for an unsupported dtype and ``ValueError`` for a wrong
    shape, a wrong bit width or values outside ``{-1, +1}`` / ``{0, 1}``.

    Example:
        >>> packed, bits = as_packed(np.array([[0, 1, 1, 0]], dtype=bool))
        >>> packed.tolist(), bits
        ([[96]], 4)
    """
    array = to_numpy(codes)
    if array.dtype == object or not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        raise TypeError(f"{name} must be a numeric or bool array, got dtype {array.dtype}")
    if np.issubdtype(array.dtype, np.complexfloating):
        raise TypeError(f"{name} must be real-valued, got dtype {array.dtype}")
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (n, bits) array or a single 1-D code, got shape {array.shape}")
    if bits is not None and (int(bits) != bits or bits < 1):
        raise ValueError(f"bits must be a positive integer, got {bits!r}")
    if array.dtype == np.uint8:
        return _check_packed(array, bits, name)
    width = array.shape[1]
    if bits is not None and width != bits:
        raise ValueError(
            f"{name} have {width} bits per code but {bits} were expected "
            f"(give {bits} columns of ±1/0-1 values, or {(bits + 7) // 8} packed uint8 bytes)"
        )
    if width == 0:
        raise ValueError(f"{name} have zero bits per code")
    return np.packbits(_bits_of(array, name), axis=1), width


def _bits_of(array: np.ndarray, name: str) -> np.ndarray:
    """Return the bool bit matrix of unpacked codes, rejecting values outside {-1, +1} / {0, 1}."""
    if array.dtype == np.bool_:
        return array
    positive = array == 1
    zero_or_minus = (array == 0) | (array == -1)
    if not np.all(positive | zero_or_minus):
        bad = array[~(positive | zero_or_minus)].ravel()[0]
        raise ValueError(f"{name} must hold only -1/+1 or 0/1 values, found {bad!r} (binarise with sign first)")
    if np.any(array == 0) and np.any(array == -1):
        raise ValueError(f"{name} mix 0 and -1 values; use either -1/+1 or 0/1 codes")
    return positive


def _check_packed(array: np.ndarray, bits: int | None, name: str) -> tuple[np.ndarray, int]:
    """Validate packed ``uint8`` rows against ``bits`` (zero padding bits included)."""
    nbytes = array.shape[1]
    if bits is None:
        bits = 8 * nbytes
    if nbytes != (bits + 7) // 8:
        raise ValueError(
            f"packed {name} have {nbytes} bytes per code, but {bits} bits need {(bits + 7) // 8} bytes"
        )
    spare = 8 * nbytes - bits
    if spare and array.size and np.any(array[:, -1] & np.uint8((1 << spare) - 1)):
        raise ValueError(f"packed {name} have non-zero padding bits beyond bit {bits}")
    return np.ascontiguousarray(array), int(bits)


def pack_codes(codes: Any, bits: int | None = None) -> np.ndarray:
    """Pack codes to ``(n, ceil(bits / 8))`` ``uint8`` rows, most significant bit first.

    Example:
        >>> pack_codes(np.array([[-1, -1, -1, -1, -1, -1, 1, 1, 1]])).tolist()
        [[3, 128]]
    """
    return as_packed(codes, bits)[0]


def unpack_codes(packed: Any, bits: int | None = None) -> np.ndarray:
    """Unpack ``uint8`` rows from :func:`pack_codes` into ``int8`` codes in ``{-1, +1}``.

    Example:
        >>> unpack_codes(np.array([[3, 128]], dtype=np.uint8), bits=9).tolist()
        [[-1, -1, -1, -1, -1, -1, 1, 1, 1]]
    """
    array = to_numpy(packed)
    if array.dtype != np.uint8:
        raise TypeError(f"packed codes must be uint8, got dtype {array.dtype}")
    array, bits = as_packed(array, bits)
    unpacked = np.unpackbits(array, axis=1, count=bits).astype(np.int8)
    return 2 * unpacked - 1


def packed_to_words(packed: np.ndarray) -> np.ndarray:
    """View packed ``uint8`` rows as ``(n, words)`` ``uint64`` rows, zero-padding each row to whole words.

    Example:
        >>> packed_to_words(np.array([[1, 2]], dtype=np.uint8)).tolist()
        [[513]]
    """
    n, nbytes = packed.shape
    words = (nbytes + 7) // 8
    padded = np.zeros((n, 8 * words), dtype=np.uint8)
    padded[:, :nbytes] = packed
    return padded.view("<u8").astype(np.uint64, copy=False)


def hamming_distance(a: Any, b: Any, bits: int | None = None) -> np.ndarray:
    """All pairwise Hamming distances between the codes of ``a`` and ``b`` as an ``(len(a), len(b))`` int32 matrix.

    A plain reference helper for small inputs; use :class:`~cmhash_hf.retrieval.HammingIndex` for search.

    Example:
        >>> hamming_distance([[1, 1, -1, -1]], [[1, 1, -1, -1], [-1, 1, 1, -1]]).tolist()
        [[0, 2]]
    """
    packed_a, bits_a = as_packed(a, bits, name="a")
    packed_b, _ = as_packed(b, bits_a, name="b")
    words_a, words_b = packed_to_words(packed_a), packed_to_words(packed_b)
    xor = words_a[:, None, :] ^ words_b[None, :, :]
    return np.bitwise_count(xor).sum(axis=2, dtype=np.int32)


def check_k(k: Any) -> int:
    """``k`` as an int, or a ``ValueError`` unless it is a positive integer."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    return int(k)


def check_ids(ids: Any, count: int, start: int) -> np.ndarray:
    """Validate user ids (integers, one per code) and return them as ``int64``; ``None`` gives ``start, start + 1, ...``."""
    if ids is None:
        return np.arange(start, start + count, dtype=np.int64)
    array = to_numpy(ids)
    if array.dtype == np.bool_ or not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"ids must be integers (int64), got dtype {array.dtype}; string ids are not supported")
    if array.shape != (count,):
        raise ValueError(f"ids must be a 1-D array with one id per code ({count}), got shape {array.shape}")
    if array.dtype == np.uint64 and array.size and array.max() > np.iinfo(np.int64).max:
        raise ValueError("ids must fit in int64")
    return array.astype(np.int64)
