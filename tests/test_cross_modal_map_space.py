"""The cross_modal_map evaluate module loads offline from the repository and gives exactly the library's numbers."""

from __future__ import annotations

import importlib.util
import os
import re
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"

import evaluate  # noqa: E402
import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

from cmhash_hf.metrics import mean_average_precision  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "cross_modal_map"


@pytest.fixture(scope="module")
def metric():
    return evaluate.load(str(SPACE))


@pytest.fixture(scope="module")
def rows():
    rng = np.random.default_rng(0)
    n, bits = 60, 16
    labels = (rng.random((n, 5)) < 0.3).astype(np.int8)
    image = np.where(rng.random((n, bits)) < 0.5, -1, 1).astype(np.int8)
    text = np.where(rng.random((n, bits)) < 0.2, -image, image).astype(np.int8)
    is_query = np.zeros(n, dtype=bool)
    is_query[rng.choice(n, 15, replace=False)] = True
    return image, text, labels, is_query


@pytest.mark.parametrize(("top_k", "variant"), [(None, "standard"), (5, "standard"), (5, "dchmt"), (100, "standard")])
def test_metric_equals_library(metric, rows, top_k, variant) -> None:
    image, text, labels, is_query = rows
    result = metric.compute(
        image_codes=image.tolist(), text_codes=text.tolist(), labels=labels.tolist(), is_query=is_query.tolist(),
        top_k=top_k, variant=variant,
    )
    q, db = is_query, ~is_query
    expected_i2t = mean_average_precision(image[q], text[db], labels[q], labels[db], top_k=top_k, variant=variant)
    expected_t2i = mean_average_precision(text[q], image[db], labels[q], labels[db], top_k=top_k, variant=variant)
    assert result == {"map_i2t": expected_i2t, "map_t2i": expected_t2i}
    assert 0.0 < expected_i2t < 1.0


def test_add_batch_then_compute(metric, rows) -> None:
    image, text, labels, is_query = rows
    for start in range(0, 60, 25):
        part = slice(start, start + 25)
        metric.add_batch(
            image_codes=image[part].tolist(), text_codes=text[part].tolist(),
            labels=labels[part].tolist(), is_query=is_query[part].tolist(),
        )
    q, db = is_query, ~is_query
    assert metric.compute()["map_t2i"] == mean_average_precision(text[q], image[db], labels[q], labels[db])


def test_hand_computed_example(metric) -> None:
    # Text query [1, 1] against database images [1, -1] (distance 1, relevant) and [-1, -1] (2, not relevant).
    result = metric.compute(
        image_codes=[[1, 1], [1, -1], [-1, -1]], text_codes=[[1, 1], [1, 1], [-1, -1]],
        labels=[[1, 0], [1, 0], [0, 1]], is_query=[True, False, False],
    )
    assert result == {"map_i2t": 1.0, "map_t2i": 1.0}
    with pytest.raises(ValueError, match="at least one query row"):
        metric.compute(image_codes=[[1, 1]], text_codes=[[1, 1]], labels=[[1]], is_query=[False])


def test_app_computes_and_reports_errors() -> None:
    spec = importlib.util.spec_from_file_location("cross_modal_map_app", SPACE / "app.py")
    app = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(app)
    assert app.compute_from_json(app.EXAMPLE_ROWS, 0, "standard") == {"map_i2t": 1.0, "map_t2i": 11 / 12}
    with pytest.raises(gr.Error):
        app.compute_from_json("not json", 0, "standard")
    with pytest.raises(gr.Error):
        app.compute_from_json('[{"image_codes": [1], "text_codes": [1], "labels": [1], "is_query": true}]', 0, "standard")
    assert isinstance(app.build_demo(), gr.Blocks)


def test_readme_has_space_metadata() -> None:
    text = (SPACE / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1))
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and front["title"] == "cross_modal_map"
    assert {"evaluate", "metric"} <= set(front["tags"])
    assert "cmhash-hf" in (SPACE / "requirements.txt").read_text()
