"""Property-based checks: every metric equals the plain per-query loop in ``retrieval_reference``."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cmhash_hf.metrics import retrieval_report
from cmhash_hf.metrics.scoring import score_retrieval
from cmhash_hf.retrieval import pack_codes
from retrieval_reference import average_precision, ndcg, per_query


@st.composite
def retrieval_cases(draw):
    """Small random problems; few bits and labels give many distance ties and queries without relevant items."""
    bits = draw(st.sampled_from([1, 3, 8, 13, 64, 70, 130]))
    n_labels = draw(st.sampled_from([1, 2, 5, 24, 70]))
    n_queries = draw(st.integers(1, 6))
    n_database = draw(st.integers(1, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    density = draw(st.sampled_from([0.05, 0.3, 0.7]))
    rng = np.random.default_rng(seed)
    flip = draw(st.sampled_from([0.02, 0.5]))  # low flip rate: codes near a few prototypes, many exact ties
    prototypes = np.where(rng.random((3, bits)) < 0.5, -1, 1)
    def codes(n):
        base = prototypes[rng.integers(0, 3, n)]
        return np.where(rng.random((n, bits)) < flip, -base, base).astype(np.int8)
    return (
        codes(n_queries),
        codes(n_database),
        (rng.random((n_queries, n_labels)) < density).astype(np.int64),
        (rng.random((n_database, n_labels)) < density).astype(np.int64),
        draw(st.lists(st.integers(1, 50), min_size=1, max_size=3)),
    )


@settings(max_examples=200, deadline=None)
@given(retrieval_cases())
def test_scores_match_reference_loop(case) -> None:
    q, db, ql, dl, ks = case
    scores = score_retrieval(q, db, ql, dl, map_ks=ks, precision_ks=ks, ndcg_ks=ks)
    expected_ap = per_query(q, db, ql, dl, lambda d, rel, g: average_precision(rel))
    assert scores.average_precision.tolist() == pytest.approx(expected_ap, rel=1e-13, abs=1e-15)
    for i, k in enumerate(ks):
        standard = per_query(q, db, ql, dl, lambda d, rel, g: average_precision(rel, k))
        dchmt = per_query(q, db, ql, dl, lambda d, rel, g: average_precision(rel, k, "dchmt"))
        precision = per_query(q, db, ql, dl, lambda d, rel, g: rel[:k].sum() / min(k, len(rel)))
        gains = per_query(q, db, ql, dl, lambda d, rel, g: ndcg(g, k))
        assert scores.ap_at_k[:, i].tolist() == pytest.approx(standard, rel=1e-13, abs=1e-15)
        assert scores.ap_dchmt_at_k[:, i].tolist() == pytest.approx(dchmt, rel=1e-13, abs=1e-15)
        assert scores.precision_at_k[:, i].tolist() == pytest.approx(precision, rel=1e-13, abs=1e-15)
        assert scores.ndcg_at_k[:, i].tolist() == pytest.approx(gains, rel=1e-12, abs=1e-15)


@settings(max_examples=80, deadline=None)
@given(retrieval_cases())
def test_pr_curve_and_packed_input_match_reference(case) -> None:
    q, db, ql, dl, _ = case
    bits = q.shape[1]
    report = retrieval_report(pack_codes(q), pack_codes(db), ql, dl, precision_k_values=[], bits=bits)
    per_radius = per_query(
        q, db, ql, dl, lambda d, rel, g: [((d <= r).sum(), (rel & (d <= r)).sum(), rel.sum()) for r in range(bits + 1)]
    )
    counts = np.array(per_radius, dtype=np.float64)  # (queries, radius, [retrieved, hits, relevant])
    retrieving = counts[:, :, 0] > 0
    precision = [
        np.mean(counts[retrieving[:, r], r, 1] / counts[retrieving[:, r], r, 0]) if retrieving[:, r].any() else 0.0
        for r in range(bits + 1)
    ]
    has_relevant = counts[:, 0, 2] > 0
    recall = (counts[has_relevant, :, 1] / counts[has_relevant, :, 2]).mean(axis=0) if has_relevant.any() else np.zeros(bits + 1)
    assert report["pr_curve"]["precision"] == pytest.approx(precision, rel=1e-13, abs=1e-15)
    assert report["pr_curve"]["recall"] == pytest.approx(list(recall), rel=1e-13, abs=1e-15)
    expected_map = np.mean(per_query(q, db, ql, dl, lambda d, rel, g: average_precision(rel)))
    assert report["map"] == pytest.approx(expected_map, rel=1e-13, abs=1e-15)
