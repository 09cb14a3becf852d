"""Hand-computed checks of the retrieval metrics (ties, empty queries, k beyond the database, single/multi-label)."""

from __future__ import annotations

import itertools
import json
import math
import os
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest
import torch

from cmhash_hf.metrics import (
    chance_mean_average_precision,
    expected_average_precision,
    mean_average_precision,
    ndcg_at_k,
    plot_pr_curve,
    plot_precision_at_k,
    precision_at_k,
    precision_recall_by_radius,
    retrieval_report,
)
from cmhash_hf.retrieval import pack_codes
from retrieval_reference import average_precision

# One query at 4 bits; database distances [1, 0, 1, 0, 2], so the stable ranking is items 1, 3, 0, 2, 4.
QUERY = np.array([[1, 1, 1, 1]], dtype=np.int8)
DATABASE = np.array(
    [[-1, 1, 1, 1], [1, 1, 1, 1], [1, -1, 1, 1], [1, 1, 1, 1], [-1, -1, 1, 1]], dtype=np.int8
)
DATABASE_LABELS = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [1, 0, 0]])
QUERY_LABELS = np.array([[1, 0, 0]])  # relevant: items 0, 3, 4 -> ranked relevance 0, 1, 1, 0, 1
AP_ALL = Fraction(1, 3) * (Fraction(1, 2) + Fraction(2, 3) + Fraction(3, 5))  # = 53/90


def close(value: float, exact: Fraction | float) -> bool:
    return value == pytest.approx(float(exact), rel=1e-15, abs=1e-15)


def test_map_all_with_ties_keeps_database_order() -> None:
    assert close(mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS), AP_ALL)
    assert AP_ALL == Fraction(53, 90)


@pytest.mark.parametrize(
    ("top_k", "variant", "expected"),
    [
        (1, "standard", Fraction(0)),
        (2, "standard", Fraction(1, 2)),
        (3, "standard", Fraction(7, 12)),
        (4, "standard", Fraction(7, 12)),
        (5, "standard", Fraction(53, 90)),
        (50, "standard", Fraction(53, 90)),  # k beyond the database is mAP@all
        (1, "dchmt", Fraction(1, 2)),  # first relevant item, wherever it is ranked
        (2, "dchmt", Fraction(7, 12)),
        (50, "dchmt", Fraction(53, 90)),
    ],
)
def test_map_at_k_variants(top_k: int, variant: str, expected: Fraction) -> None:
    value = mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS, top_k=top_k, variant=variant)
    assert close(value, expected)


def test_query_without_relevant_items_counts_as_zero() -> None:
    queries = np.concatenate([QUERY, QUERY])
    labels = np.array([[1, 0, 0], [0, 0, 0]])
    value = mean_average_precision(queries, DATABASE, labels, DATABASE_LABELS)
    assert close(value, AP_ALL / 2)
    assert close(mean_average_precision(queries, DATABASE, labels, DATABASE_LABELS, top_k=2, variant="dchmt"), Fraction(7, 24))
    assert not math.isnan(mean_average_precision(QUERY, DATABASE, [[0, 0, 0]], DATABASE_LABELS))


def test_single_label_classes() -> None:
    # 2 classes, one-hot; query class 0; distances 0, 2, 2, 1 -> ranking 0, 3, 1, 2 with classes 1, 0, 0, 1.
    database = np.array([[1, 1], [-1, -1], [-1, -1], [1, -1]])
    labels = np.eye(2)[[1, 0, 0, 1]]
    value = mean_average_precision([[1, 1]], database, [[1, 0]], labels)
    assert close(value, (Fraction(1, 3) + Fraction(2, 4)) / 2)


def test_input_forms_agree() -> None:
    expected = mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS)
    as_bits = (DATABASE > 0).astype(bool), (QUERY > 0).astype(np.int8)
    assert close(mean_average_precision(as_bits[1], as_bits[0], QUERY_LABELS, DATABASE_LABELS), expected)
    packed = mean_average_precision(pack_codes(QUERY), pack_codes(DATABASE), QUERY_LABELS, DATABASE_LABELS, bits=4)
    assert close(packed, expected)
    tensors = [torch.tensor(a, dtype=torch.float32) for a in (QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS)]
    assert close(mean_average_precision(*tensors), expected)


def test_precision_at_k_divides_by_returned_length() -> None:
    values = [precision_at_k(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS, k=k) for k in (1, 2, 3, 5, 10)]
    assert values == [0.0, 0.5, pytest.approx(2 / 3, rel=1e-15), 0.6, 0.6]


def test_precision_recall_by_radius() -> None:
    queries = np.concatenate([QUERY, QUERY])
    labels = np.array([[1, 0, 0], [0, 0, 0]])
    curve = precision_recall_by_radius(queries, DATABASE, labels, DATABASE_LABELS)
    assert curve["radius"].tolist() == [0, 1, 2, 3, 4]
    # Query 1: radius 0 retrieves items 1, 3 (1 relevant), radius 1 four items (2), radius 2+ all five (3).
    # Query 2 retrieves the same items with nothing relevant: it lowers precision and is left out of recall.
    assert curve["precision"].tolist() == pytest.approx([1 / 4, 1 / 4, 3 / 10, 3 / 10, 3 / 10], rel=1e-15)
    assert curve["recall"].tolist() == pytest.approx([1 / 3, 2 / 3, 1, 1, 1], rel=1e-15)


def test_ndcg_graded_by_shared_labels() -> None:
    # Query labels {0, 2}: grades by item 1, 0, 1, 2, 1 -> ranked grades 0, 2, 1, 1, 1; ideal 2, 1, 1, 1, 0.
    dcg = 3 / math.log2(3) + 1 / 2
    ideal = 3 + 1 / math.log2(3) + 1 / 2
    assert ndcg_at_k(QUERY, DATABASE, [[1, 0, 1]], DATABASE_LABELS, k=3) == pytest.approx(dcg / ideal, rel=1e-14)
    assert ndcg_at_k(QUERY, DATABASE, [[0, 0, 0]], DATABASE_LABELS, k=3) == 0.0


def test_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="variant"):
        mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS, variant="other")
    with pytest.raises(ValueError, match="bits"):
        mean_average_precision(QUERY[:, :3], DATABASE, QUERY_LABELS, DATABASE_LABELS)
    with pytest.raises(ValueError, match="label columns"):
        mean_average_precision(QUERY, DATABASE, [[1, 0]], DATABASE_LABELS)
    with pytest.raises(ValueError, match="disagree"):
        mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS[:4])
    with pytest.raises(ValueError, match="-1/\\+1 or 0/1"):
        mean_average_precision(QUERY * 0.5, DATABASE, QUERY_LABELS, DATABASE_LABELS)
    with pytest.raises(ValueError, match="top_k"):
        mean_average_precision(QUERY, DATABASE, QUERY_LABELS, DATABASE_LABELS, top_k=0)


def test_chance_formula_by_hand() -> None:
    harmonic_3 = 1 + 1 / 2 + 1 / 3
    assert expected_average_precision([0, 1, 2, 3], 3).tolist() == pytest.approx(
        [0.0, harmonic_3 / 3, (harmonic_3 + (3 - harmonic_3) / 2) / 3, 1.0], rel=1e-15
    )
    assert expected_average_precision([1], 1).tolist() == [1.0]
    # Query 1 has 1 relevant of 2, query 2 has none: (H_2 / 2 + 0) / 2 = 3/8.
    assert chance_mean_average_precision([[1, 0], [0, 0]], [[1, 0], [0, 1]]) == 0.375


@pytest.mark.parametrize("total", [1, 2, 3, 4, 5, 6])
def test_chance_formula_matches_every_permutation(total: int) -> None:
    for relevant in range(total + 1):
        relevance = np.array([True] * relevant + [False] * (total - relevant))
        aps = [average_precision(relevance[list(order)]) for order in itertools.permutations(range(total))]
        assert expected_average_precision([relevant], total)[0] == pytest.approx(np.mean(aps), rel=1e-13)


def test_report_matches_individual_metrics_and_json(tmp_path) -> None:
    queries = np.concatenate([QUERY, -QUERY])
    labels = np.array([[1, 0, 0], [0, 1, 1]])
    report = retrieval_report(queries, DATABASE, labels, DATABASE_LABELS, top_k_values=[2, 50], precision_k_values=[1, 3])
    assert report["map"] == mean_average_precision(queries, DATABASE, labels, DATABASE_LABELS)
    assert report["map_at_k"]["2"] == mean_average_precision(queries, DATABASE, labels, DATABASE_LABELS, top_k=2)
    assert report["precision_at_k"]["3"] == precision_at_k(queries, DATABASE, labels, DATABASE_LABELS, k=3)
    curve = precision_recall_by_radius(queries, DATABASE, labels, DATABASE_LABELS)
    assert report["pr_curve"]["recall"] == curve["recall"].tolist()
    assert report["chance_map"] == chance_mean_average_precision(labels, DATABASE_LABELS)
    assert (report["bits"], report["num_queries"], report["num_database"]) == (4, 2, 5)
    assert json.loads(json.dumps(report)) == report
    reports = {"I→T": report, "T→I": report}
    for plot, name in ((plot_pr_curve, "pr.png"), (plot_precision_at_k, "p_at_k.png")):
        path = plot(reports, tmp_path / "plots" / name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("call", ["mean_average_precision", "HammingIndex.search"])
def test_numba_kernels_leave_torchs_thread_count_alone(call: str) -> None:
    """numba's OpenMP layer resets the process's OpenMP thread count on its first parallel launch; a fresh
    process (so the launch happens here) must still train with the one thread it was started with."""
    script = f"""
import numpy as np, torch
from cmhash_hf.metrics import mean_average_precision
from cmhash_hf.retrieval import HammingIndex
codes = np.where(np.random.default_rng(0).random((64, 32)) > 0.5, 1, -1).astype(np.int8)
labels = np.eye(4, dtype=np.float32)[np.arange(64) % 4]
if "{call}" == "mean_average_precision":
    mean_average_precision(codes, codes, labels, labels)
else:
    index = HammingIndex(bits=32)
    index.add(codes)
    index.search(codes, k=5)
print(torch.get_num_threads())
"""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "2"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert result.stdout.split()[-1] == "1"
