"""`cmhash evaluate --labels ... --per-label`: scores by concept, checked against the plain metrics on filtered labels."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.data.shapes import SHAPES_LABEL_NAMES
from cmhash_hf.evaluation import encode_split
from cmhash_hf.runs import load_run, resolve_split
from cmhash_hf.metrics import chance_mean_average_precision, mean_average_precision

SHAPE_KINDS = SHAPES_LABEL_NAMES[:12]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "dcmh8"
    assert main(["train", "--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "tiny", "--bits", "8",
                 "--epochs", "1", "--max-train-samples", "64", "--batch-size", "32", "--output-dir", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def codes(small_run):
    run = load_run(small_run)
    data = load_cross_modal_dataset("builtin:shapes")
    return encode_split(run, data, resolve_split(small_run, data, "classic", 0))


def test_evaluate_scores_label_subsets_and_each_label(small_run, codes, capsys):
    assert main(["evaluate", str(small_run), "--labels", *SHAPE_KINDS, "--labels", "red", "--per-label"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((small_run / "results.json").read_text())
    query, database = codes
    shapes, red = results["label_subsets"]
    assert shapes["labels"] == SHAPE_KINDS and red["labels"] == ["red"]
    # the same numbers from the plain metrics, on labels restricted and queries filtered by hand
    for subset, columns in ((shapes, list(range(12))), (red, [SHAPES_LABEL_NAMES.index("red")])):
        has = query.labels[:, columns].any(axis=1)
        assert (subset["num_queries"], subset["num_queries_left_out"]) == (int(has.sum()), int((~has).sum()))
        q_labels, db_labels = query.labels[has][:, columns], database.labels[:, columns]
        assert subset["map_i2t"] == pytest.approx(mean_average_precision(query.image[has], database.text, q_labels, db_labels))
        assert subset["map_t2i"] == pytest.approx(mean_average_precision(query.text[has], database.image, q_labels, db_labels))
        assert subset["chance_i2t"] == pytest.approx(chance_mean_average_precision(q_labels, db_labels))
    assert shapes["num_queries_left_out"] == 0  # every picture shows a shape
    assert 0 < red["num_queries"] < 400 and red["num_queries"] + red["num_queries_left_out"] == 400
    per_label = results["per_label"]
    assert per_label["labels"] == SHAPES_LABEL_NAMES
    assert sum(per_label["num_queries"][:12]) >= 400
    for j in (0, 13, 23):
        has = query.labels[:, j] > 0
        ones = np.ones((int(has.sum()), 1))
        assert per_label["num_queries"][j] == int(has.sum())
        assert per_label["map_t2i"][j] == pytest.approx(
            mean_average_precision(query.text[has], database.image, ones, database.labels[:, j : j + 1]))
        assert per_label["chance"][j] == pytest.approx(chance_mean_average_precision(ones, database.labels[:, j : j + 1]))
    assert (small_run / "per_label_map.png").read_bytes()[:4] == b"\x89PNG"
    assert "relevance restricted to 12 label(s) (circle, square," in printed and "per_label_map.png" in printed
    assert f"{'semicircle':<14}{per_label['num_queries'][11]:>8}{per_label['map_i2t'][11]:>9.4f}" in printed
    assert f"{'text→image':<12}{red['map_t2i']:>9.4f}{red['chance_t2i']:>9.4f}" in printed


def test_unknown_label_names_are_one_clear_line(small_run, capsys):
    assert main(["evaluate", str(small_run), "--labels", "circle", "octagon"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"cmhash: error: builtin:shapes has no label 'octagon'; its labels are: {', '.join(SHAPES_LABEL_NAMES)}."
    )
