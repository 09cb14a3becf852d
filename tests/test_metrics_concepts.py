"""Scoring by concept: relevance restricted to a label subset, and each label's mAP on its own (hand-computed)."""

from __future__ import annotations

import json
from fractions import Fraction

import numpy as np
import pytest

from cmhash_hf.metrics import label_subset_report, per_label_map, plot_per_label_map, restrict_to_labels, retrieval_report

# Labels: 0 = "circle", 1 = "square" (shape kinds), 2 = "red" (a colour). Two-bit codes.
QUERY_CODES = np.array([[1, 1], [1, 1], [1, -1]], dtype=np.int8)
QUERY_LABELS = np.array([[1, 0, 1], [0, 1, 0], [0, 0, 1]])
DATABASE_CODES = np.array([[1, 1], [1, -1], [-1, -1], [-1, 1]], dtype=np.int8)
DATABASE_LABELS = np.array([[1, 0, 0], [0, 1, 1], [0, 1, 0], [0, 0, 1]])
# Stable Hamming rankings: from [1, 1] the distances are 0, 1, 2, 1 -> items 0, 1, 3, 2;
#                          from [1, -1] they are 1, 0, 1, 2 -> items 1, 0, 2, 3.
H4 = Fraction(1) + Fraction(1, 2) + Fraction(1, 3) + Fraction(1, 4)  # harmonic number of N = 4 items
CHANCE_R1 = H4 / 4  # expected AP of a random ranking with one relevant item among four
CHANCE_R2 = (H4 + (4 - H4) * Fraction(1, 3)) / 4  # ... with two relevant items


def test_shape_subset_scores_only_queries_with_a_shape_and_counts_the_rest():
    report = label_subset_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS, [0, 1])
    # query 0 (circle): relevant item 0 only, ranked 1st -> AP 1.
    # query 1 (square): relevant items 1 and 2, ranked 2nd and 4th -> AP (1/2 + 2/4) / 2 = 1/2.
    # query 2 (red only) has no shape: left out. "red" no longer makes item 1 or 3 relevant to query 0.
    assert report["map"] == pytest.approx(float((1 + Fraction(1, 2)) / 2))
    assert (report["num_queries"], report["num_queries_left_out"], report["num_database"]) == (2, 1, 4)
    assert report["label_columns"] == [0, 1]
    assert report["chance_map"] == pytest.approx(float((CHANCE_R1 + CHANCE_R2) / 2))
    # precision@1: query 0's top item is relevant, query 1's is not
    assert report["precision_at_k"]["1"] == pytest.approx(0.5)
    json.dumps(report)  # JSON-ready


def test_colour_subset_and_the_full_label_set():
    report = label_subset_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS, [2])
    # red queries 0 and 2; red items 1 and 3. Query 0: ranks 2, 3 -> (1/2 + 2/3) / 2 = 7/12;
    # query 2: ranks 1, 4 -> (1 + 2/4) / 2 = 3/4.
    assert report["map"] == pytest.approx(float((Fraction(7, 12) + Fraction(3, 4)) / 2))
    assert report["num_queries_left_out"] == 1
    full = label_subset_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS, [2, 0, 1])
    plain = retrieval_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS)
    assert full["num_queries_left_out"] == 0
    assert {k: full[k] for k in plain} == plain  # every query has a label: the subset of all labels is the plain report


def test_per_label_map_against_hand_computed_values():
    scores = per_label_map(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS)
    expected_map = [1.0, 0.5, float((Fraction(7, 12) + Fraction(3, 4)) / 2)]
    assert scores["map"] == pytest.approx(expected_map)
    assert scores["chance"] == pytest.approx([float(CHANCE_R1), float(CHANCE_R2), float(CHANCE_R2)])
    assert scores["num_queries"].tolist() == [1, 1, 2]


def test_per_label_map_of_a_label_no_query_has_is_nan_and_packed_codes_work():
    packed = np.packbits(QUERY_CODES > 0, axis=1)
    order = [0, 2, 1]  # circle, red, square; then no query keeps "square"
    queries, database = QUERY_LABELS[:, order] * [1, 1, 0], DATABASE_LABELS[:, order]
    scores = per_label_map(packed, DATABASE_CODES, queries, database, bits=2)
    assert scores["num_queries"].tolist() == [1, 2, 0]
    assert scores["map"][:2] == pytest.approx([1.0, float((Fraction(7, 12) + Fraction(3, 4)) / 2)]) and np.isnan(scores["map"][2]) and np.isnan(scores["chance"][2])


def test_restrict_to_labels_keeps_every_database_item():
    queries, database, kept = restrict_to_labels(QUERY_LABELS, DATABASE_LABELS, [1])
    assert queries.astype(int).tolist() == [[1]] and kept.tolist() == [False, True, False]
    assert database.astype(int).tolist() == [[0], [1], [1], [0]]


@pytest.mark.parametrize(
    ("columns", "error", "message"),
    [
        ([], ValueError, "the label subset is empty: name at least one label"),
        ([3], ValueError, "label columns must lie in [0, 3) (the labels have 3 columns), got [3]"),
        ([0, 0], ValueError, "label columns must be distinct, got [0, 0]"),
        (["circle"], TypeError, "label columns must be integers, got ['circle']"),
    ],
)
def test_bad_label_columns_are_clear_errors(columns, error, message):
    with pytest.raises(error) as caught:
        label_subset_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS, DATABASE_LABELS, columns)
    assert str(caught.value) == message


def test_a_subset_no_query_has_is_a_clear_error():
    with pytest.raises(ValueError, match=r"no query has any of the label columns \[1\]: choose labels"):
        label_subset_report(QUERY_CODES, DATABASE_CODES, QUERY_LABELS * [1, 0, 1], DATABASE_LABELS, [1])


def test_plot_per_label_map_writes_a_png_and_checks_lengths(tmp_path):
    path = plot_per_label_map(["circle", "square"], {"I→T": [0.9, float("nan")], "T→I": [0.5, 0.4]}, [0.3, 0.2],
                              tmp_path / "per_label_map.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match=r"one value per label \(2 labels\)"):
        plot_per_label_map(["circle", "square"], {"I→T": [0.9]}, [0.3, 0.2], tmp_path / "x.png")
