"""HammingIndex: exact top-k equal to a brute-force stable sort, persistence, validation (backends: test_backends.py)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from cmhash_hf.retrieval import HammingIndex, hamming_distance, pack_codes, unpack_codes


def random_codes(rng: np.random.Generator, n: int, bits: int, prototypes: int = 0) -> np.ndarray:
    """±1 codes; with prototypes, codes are noisy copies of a few centres (many duplicates and ties)."""
    if not prototypes:
        return np.where(rng.random((n, bits)) < 0.5, -1, 1).astype(np.int8)
    centres = np.where(rng.random((prototypes, bits)) < 0.5, -1, 1)
    base = centres[rng.integers(0, prototypes, n)]
    return np.where(rng.random((n, bits)) < 0.05, -base, base).astype(np.int8)


def brute_force(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: all distances, stable sort per query, first k."""
    bits = queries.shape[1]
    distances = (bits - queries.astype(np.int64) @ database.astype(np.int64).T) // 2
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, axis=1), order


@pytest.mark.parametrize(
    ("bits", "n", "n_queries", "k", "prototypes"),
    [
        (8, 20000, 3, 10, 0),  # few queries: database split in slices, merged; 8 bits: huge ties
        (8, 20000, 40, 1000, 0),  # many query blocks, large k
        (12, 3000, 37, 100, 0),  # bits not a multiple of 8
        (64, 30000, 5, 100, 4),  # clustered codes with duplicates
        (64, 5000, 50, 7, 0),
        (128, 5000, 20, 50, 3),
        (200, 2000, 10, 25, 0),  # four words: the generic distance path
        (64, 30, 4, 100, 2),  # k larger than the index
    ],
)
def test_search_equals_brute_force(bits: int, n: int, n_queries: int, k: int, prototypes: int) -> None:
    rng = np.random.default_rng(bits * n + k)
    database = random_codes(rng, n, bits, prototypes)
    queries = random_codes(rng, n_queries, bits, prototypes)
    index = HammingIndex(bits)
    index.add(database)
    distances, ids = index.search(queries, k)
    expected_distances, expected_ids = brute_force(queries, database, k)
    assert distances.dtype == np.int32 and ids.dtype == np.int64
    assert distances.shape == (n_queries, min(k, n))
    np.testing.assert_array_equal(distances, expected_distances)
    np.testing.assert_array_equal(ids, expected_ids)


def test_duplicates_come_back_in_insertion_order_with_custom_ids() -> None:
    index = HammingIndex(16)
    code = np.ones(16, dtype=np.int8)
    index.add(np.stack([-code, code, code]), ids=[70, 71, 72])
    index.add(np.stack([code, -code]))  # default ids continue with insertion positions 3, 4
    distances, ids = index.search(code, k=4)
    assert distances.tolist() == [[0, 0, 0, 16]]
    assert ids.tolist() == [[71, 72, 3, 70]]
    assert len(index) == 5 and index.ids.tolist() == [70, 71, 72, 3, 4]


def test_empty_index_and_input_forms() -> None:
    index = HammingIndex(32)
    distances, ids = index.search(np.ones((3, 32)), k=5)
    assert distances.shape == (3, 0) and ids.shape == (3, 0)
    rng = np.random.default_rng(0)
    codes = random_codes(rng, 50, 32)
    for form in (codes, torch.from_numpy(codes).float(), (codes > 0), pack_codes(codes)):
        other = HammingIndex(32)
        other.add(form)
        np.testing.assert_array_equal(other.packed_codes(), pack_codes(codes))
    np.testing.assert_array_equal(unpack_codes(pack_codes(codes), 32), codes)
    assert hamming_distance(codes[:2], codes[:3]).tolist()[0][0] == 0


def test_save_load_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(1)
    index = HammingIndex(100)
    index.add(random_codes(rng, 500, 100), ids=rng.integers(-(2**62), 2**62, 500))
    path = index.save(tmp_path / "nested" / "codes.cmhash")
    restored = HammingIndex.load(path)
    assert restored.bits == 100 and len(restored) == 500
    np.testing.assert_array_equal(restored.ids, index.ids)
    queries = random_codes(rng, 7, 100)
    for got, expected in zip(restored.search(queries, 9), index.search(queries, 9)):
        np.testing.assert_array_equal(got, expected)
    assert [p.name for p in path.parent.iterdir()] == ["codes.cmhash"]  # no temporary file left behind


def test_load_rejects_damaged_files(tmp_path) -> None:
    index = HammingIndex(64)
    index.add(np.ones((10, 64)))
    path = index.save(tmp_path / "index.cmhash")
    data = path.read_bytes()
    cases = {
        "truncated": data[:-5],
        "trailing": data + b"\0",
        "checksum": data[:30] + bytes([data[30] ^ 1]) + data[31:],
        "bad magic": b"X" + data[1:],
        "version": data[:8] + (2).to_bytes(4, "little") + data[12:],
    }
    cases["pickle"] = pickle.dumps(index)
    for problem, content in cases.items():
        damaged = tmp_path / f"{problem.replace(' ', '_')}.cmhash"
        damaged.write_bytes(content)
        expected = {"trailing": "trailing data", "pickle": "bad magic"}.get(problem, problem)
        with pytest.raises(ValueError, match=expected) as error:
            HammingIndex.load(damaged)
        assert damaged.name in str(error.value)


@pytest.mark.parametrize(
    ("codes", "error", "message"),
    [
        (np.ones((2, 32)), ValueError, "32 bits per code but 64"),
        (np.ones((2, 4), dtype=np.uint8), ValueError, "4 bytes per code, but 64 bits need 8"),
        (np.full((2, 64), 0.5), ValueError, "-1/\\+1 or 0/1"),
        (np.array([[0, -1] * 32]), ValueError, "mix 0 and -1"),
        (np.array([["a"] * 64]), TypeError, "dtype"),
        (np.ones((2, 64, 1)), ValueError, "2-D"),
    ],
)
def test_add_validates_codes(codes, error, message) -> None:
    with pytest.raises(error, match=message):
        HammingIndex(64).add(codes)


def test_validates_ids_bits_and_k() -> None:
    index = HammingIndex(8)
    with pytest.raises(TypeError, match="string ids are not supported"):
        index.add(np.ones((2, 8)), ids=["a", "b"])
    with pytest.raises(TypeError, match="integers"):
        index.add(np.ones((2, 8)), ids=[1.0, 2.0])
    with pytest.raises(ValueError, match="one id per code"):
        index.add(np.ones((2, 8)), ids=[1])
    with pytest.raises(ValueError, match="bits"):
        HammingIndex(0)
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(8), k=0)
    with pytest.raises(ValueError, match="non-zero padding"):
        HammingIndex(4).add(np.array([[0xFF]], dtype=np.uint8))
    assert len(index) == 0
