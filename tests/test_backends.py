"""Conformance suite of the index backends: every registered backend and kind, the same checks.

Flat (exact) kinds must return the brute-force distances on tie-heavy codes — the backends with
``stable_ties`` also the brute-force stable-sort ids, the others the right ids below the k-th distance and
a choice among the tied ones at it; approximate kinds must reach a tie-aware recall@10 of 0.9 on
clustered codes. Then ids, persistence and reconnection, the empty index, k beyond the index and wrong
code widths.
"""

from __future__ import annotations

import numpy as np
import pytest

from cmhash_hf.retrieval import get_backend, list_backends, tie_aware_recall
from cmhash_hf.retrieval.backends import CodeIndex, order_results

CASES = [(name, kind) for name in list_backends() for kind in (get_backend(name).local_kinds or get_backend(name).kinds)]


def random_codes(rng: np.random.Generator, n: int, bits: int, prototypes: int = 0, noise: float = 0.05) -> np.ndarray:
    if not prototypes:
        return np.where(rng.random((n, bits)) < 0.5, -1, 1).astype(np.int8)
    centres = np.where(rng.random((prototypes, bits)) < 0.5, -1, 1)
    base = centres[rng.integers(0, prototypes, n)]
    return np.where(rng.random((n, bits)) < noise, -base, base).astype(np.int8)


def brute_force(queries: np.ndarray, database: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reference: every distance by matrix product, a stable sort per query, the first k."""
    bits = queries.shape[1]
    distances = (bits - queries.astype(np.int64) @ database.astype(np.int64).T) // 2
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(distances, order, axis=1), order


def uri_for(name: str, folder) -> str:
    return str(folder / "codes.db") if name == "milvus" else str(folder)


@pytest.fixture(params=CASES, ids=[f"{name}-{kind}" for name, kind in CASES])
def case(request):
    return request.param


def make(case, tmp_path, bits: int, **kwargs) -> CodeIndex:
    name, kind = case
    return get_backend(name).create(bits, uri_for(name, tmp_path), kind=kind, **kwargs)


def check_exact(index: CodeIndex, queries: np.ndarray, database: np.ndarray, k: int, ids_of=lambda p: p) -> None:
    distances, ids = index.search(queries, k)
    expected_d, expected_positions = brute_force(queries, database, k)
    expected_ids = ids_of(expected_positions)
    assert distances.dtype == np.int32 and ids.dtype == np.int64
    np.testing.assert_array_equal(distances, expected_d)
    if index.stable_ties:
        np.testing.assert_array_equal(ids, expected_ids)
        return
    all_d = (queries.shape[1] - queries.astype(np.int64) @ database.astype(np.int64).T) // 2
    for q in range(len(queries)):
        kth = expected_d[q, -1]
        below = ids[q][distances[q] < kth]
        np.testing.assert_array_equal(below, expected_ids[q][expected_d[q] < kth])  # same items, in id order
        tied = ids[q][distances[q] == kth]
        assert set(tied) <= set(ids_of(np.flatnonzero(all_d[q] == kth)).tolist())
        assert np.all(np.diff(tied) > 0)


@pytest.mark.parametrize(("bits", "n", "k"), [(8, 3000, 25), (12, 800, 40), (64, 4000, 10)])
def test_flat_search_equals_brute_force_on_tie_heavy_codes(case, tmp_path, bits, n, k):
    rng = np.random.default_rng(bits + n)
    database = random_codes(rng, n, bits, prototypes=0 if bits < 64 else 5)
    queries = random_codes(rng, 6, bits, prototypes=0 if bits < 64 else 5)
    index = make(case, tmp_path, bits)
    index.add(database[: n // 2])
    index.add(database[n // 2 :])  # two batches: ids continue
    assert len(index) == n
    if index.exact:
        check_exact(index, queries, database, k)
    else:
        distances, _ = index.search(queries, k)
        assert tie_aware_recall(distances, brute_force(queries, database, k)[0]) >= 0.5
    index.close()


def test_approximate_kinds_reach_the_stated_recall_on_clustered_codes(case, tmp_path):
    rng = np.random.default_rng(7)
    database = random_codes(rng, 6000, 64, prototypes=24, noise=0.1)
    queries = random_codes(rng, 40, 64, prototypes=24, noise=0.1)
    index = make(case, tmp_path, 64)
    index.add(database)
    index.save()
    distances, ids = index.search(queries, 10)
    exact_d, _ = brute_force(queries, database, 10)
    recall = tie_aware_recall(distances, exact_d)
    assert recall >= (1.0 if index.exact else 0.9), recall
    # the distances reported are the true distances of the ids returned
    found = ids >= 0
    true_d = (64 - queries.astype(np.int64) @ database.astype(np.int64).T) // 2
    np.testing.assert_array_equal(distances[found], np.take_along_axis(true_d, np.where(found, ids, 0), 1)[found])
    index.close()


def test_custom_ids_persistence_and_reconnection(case, tmp_path):
    name, kind = case
    rng = np.random.default_rng(3)
    database = random_codes(rng, 1500, 16)
    queries = random_codes(rng, 5, 16)
    index = make(case, tmp_path, 16)
    index.add(database, ids=10_000 + 3 * np.arange(1500))
    index.save()
    before = index.search(queries, 7)
    index.close()
    reopened = get_backend(name).open(uri_for(name, tmp_path), bits=16)
    assert (len(reopened), reopened.bits, reopened.kind) == (1500, 16, kind)
    after = reopened.search(queries, 7)
    np.testing.assert_array_equal(before[0], after[0])
    if reopened.exact:
        np.testing.assert_array_equal(before[1], after[1])
        check_exact(reopened, queries, database, 7, ids_of=lambda p: 10_000 + 3 * p)
    # adding after reopening continues the collection
    reopened.add(queries[:1], ids=[5])
    assert len(reopened) == 1501
    assert reopened.search(queries[:1], 1)[0].tolist() == [[0]]
    reopened.close()


def test_empty_index_and_k_beyond_the_index(case, tmp_path):
    name, _ = case
    index = make(case, tmp_path, 24)
    distances, ids = index.search(np.ones((3, 24)), 5)
    assert distances.shape == ids.shape == (3, 0)
    index.save()
    index.close()
    index = get_backend(name).open(uri_for(name, tmp_path))
    assert len(index) == 0
    codes = np.array([[1] * 24, [-1] * 24, [1] * 12 + [-1] * 12])
    index.add(codes)
    distances, ids = index.search(np.array([[1] * 24]), 10)
    assert distances.tolist() == [[0, 12, 24]] and ids.tolist() == [[0, 2, 1]]
    index.close()


def test_wrong_code_widths_and_existing_tables_are_clear_errors(case, tmp_path):
    name, _ = case
    index = make(case, tmp_path, 32)
    with pytest.raises(ValueError, match="have 16 bits per code but 32 were expected"):
        index.add(np.ones((2, 16)))
    with pytest.raises(ValueError, match="query codes have 31 bits per code but 32 were expected"):
        index.search(np.ones((1, 31)), 3)
    with pytest.raises(ValueError, match="k must be a positive integer"):
        index.search(np.ones((1, 32)), 0)
    index.add(np.ones((2, 32)))
    index.save()
    index.close()
    with pytest.raises(ValueError, match="holds 32-bit codes, not 64-bit ones"):
        get_backend(name).open(uri_for(name, tmp_path), bits=64)
    with pytest.raises(ValueError, match=r"already (exists|holds).*(another code width \(32 bits, not 64\)|overwrite)"):
        make(case, tmp_path, 64)
    replaced = make(case, tmp_path, 64, overwrite=True)
    assert (len(replaced), replaced.bits) == (0, 64)
    replaced.close()
    with pytest.raises(OSError, match="other_table"):
        get_backend(name).open(uri_for(name, tmp_path), table="other_table")


def test_registry_errors_and_install_hints():
    with pytest.raises(ValueError, match=r"Unknown index backend 'nope'; choose one of \['exact', 'faiss', 'lancedb', 'milvus'\]"):
        get_backend("nope")
    with pytest.raises(ValueError, match=r"offers kinds \['flat'\], got 'ivf'"):
        get_backend("exact").create(8, kind="ivf")
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['nprobe'\] of the 'exact' backend; it takes no options"):
        get_backend("exact").create(8, nprobe=3)
    with pytest.raises(ValueError, match="table must be a name"):
        get_backend("exact").create(8, table="bad name")
    assert order_results(np.array([[2, -1, 2, 0]]), np.array([[9, -1, 4, 7]]), 4)[1].tolist() == [[7, 4, 9, -1]]


def test_a_missing_client_library_names_the_package(monkeypatch, tmp_path):
    import sys

    monkeypatch.setitem(sys.modules, "pymilvus", None)  # an import of a None entry fails like a missing package
    monkeypatch.setitem(sys.modules, "lancedb", None)
    with pytest.raises(ImportError, match=r"The 'milvus' index backend needs the pymilvus package: pip install 'pymilvus'"):
        get_backend("milvus").create(8, str(tmp_path / "x.db"))
    with pytest.raises(ImportError, match=r"The 'lancedb' index backend needs the lancedb package: pip install 'lancedb'"):
        get_backend("lancedb").create(8, str(tmp_path))


def test_milvus_lite_offers_only_bin_flat(tmp_path):
    with pytest.raises(ValueError, match=r"Milvus Lite \(.*codes.db\) offers only BIN_FLAT .* needs a Milvus server"):
        get_backend("milvus").create(8, str(tmp_path / "codes.db"), kind="ivf")


def test_an_unreachable_milvus_server_is_one_error_naming_the_uri():
    with pytest.raises(OSError, match=r"Cannot reach Milvus at http://127\.0\.0\.1:9"):
        get_backend("milvus").create(8, "http://127.0.0.1:9", timeout=2)
