"""Model cards: written by save_pretrained, refreshed by `cmhash evaluate`, parsed back with huggingface_hub."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
from huggingface_hub import ModelCard

from cmhash_hf import AutoConfig, CrossModalHashModel
from cmhash_hf.cli import main
from cmhash_hf.hub import CARD_MARKER, build_model_card, card_summary
from cmhash_hf.hub.model_card import TEMPLATE_PATH

from hub_runs import copy_of_shared_run

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run, its card right after training, then the same run evaluated."""
    folder = copy_of_shared_run(tmp_path_factory, "card")
    card_after_training = ModelCard.load(folder / "README.md")
    assert main(["evaluate", str(folder)]) == 0
    return SimpleNamespace(folder=folder, trained=card_after_training, evaluated=ModelCard.load(folder / "README.md"))


def test_training_writes_a_card_with_metadata_and_every_training_setting(run):
    data = run.trained.data
    assert data.library_name == "cmhash-hf" and data.license == "apache-2.0"
    assert {"cross-modal-hashing", "dcmh", "image-text-retrieval"} <= set(data.tags)
    assert data.datasets == ["builtin:shapes"] and data.base_model is None and data.eval_results is None
    text = run.trained.text
    assert CARD_MARKER in text and "Not evaluated yet" in text
    assert "DCMH: Deep Cross-Modal Hashing (Qing-Yuan Jiang and Wu-Jun Li, CVPR 2017)" in text
    args = json.loads((run.folder / "training_args.json").read_text())
    for name, value in args.items():
        shown = Path(value).name if name == "output_dir" else value
        assert f"| `{name}` | `{json.dumps(shown)}` |" in text, name
    assert "synthetic" in text and "implemented in cmhash-hf from the paper" in text
    assert re.search(r'CrossModalHashModel\.from_pretrained\("[^"]*/dcmh16"\)', text)  # the folder it was saved to


def test_evaluate_refreshes_the_card_with_both_directions(run):
    results = json.loads((run.folder / "results.json").read_text())
    by_name = {r.metric_name: r for r in run.evaluated.data.eval_results}
    assert sorted(by_name) == ["mAP@all I→T (image query, text database)", "mAP@all T→I (text query, image database)"]
    for name, direction in (("I→T", "i2t"), ("T→I", "t2i")):
        result = next(r for n, r in by_name.items() if name in n)
        assert result.metric_value == round(results[f"map_{direction}"], 4)
        assert result.metric_args["bits"] == 16 and result.dataset_name == "builtin:shapes"
        assert result.dataset_config == "classic" and result.dataset_args["num_queries"] == 400
    assert "model-index" in (run.folder / "README.md").read_text()
    assert f"{results['map_t2i']:.4f}" in run.evaluated.text and "Not evaluated yet" not in run.evaluated.text
    summary = card_summary(run.evaluated)
    assert summary.startswith("### DCMH · 16-bit codes · builtin:shapes") and "T→I" in summary


def test_a_hand_written_readme_is_never_overwritten(run, tmp_path):
    model = CrossModalHashModel.from_pretrained(str(run.folder))
    (tmp_path / "README.md").write_text("# my own notes\n")
    model.save_pretrained(tmp_path)
    assert (tmp_path / "README.md").read_text() == "# my own notes\n"
    fresh = tmp_path / "fresh"
    model.save_pretrained(fresh)
    assert ModelCard.load(fresh / "README.md").data.library_name == "cmhash-hf"


def test_pretrained_towers_are_listed_as_base_models_and_results_can_be_passed():
    config = AutoConfig.for_model(
        "dcmh", hash_bits=32, dataset_name="/data/local/mirflickr",
        text_encoder={"kind": "bow", "input_dim": 10, "hidden_dims": [8]},
    )
    config.image_encoder["name_or_path"] = "google/vit-base-patch16-224"
    results = {"dataset": "/data/local/mirflickr", "map_i2t": 0.5, "map_t2i": 0.25, "bits": 32}
    card = ModelCard(str(build_model_card(config, results=results, model_id="org/dcmh-32")))
    assert card.data.base_model == ["google/vit-base-patch16-224"]
    assert card.data.datasets == ["mirflickr"] and card.data.model_name == "dcmh-32"
    assert [r.metric_value for r in card.data.eval_results] == [0.5, 0.25]
    assert "/data/local" not in str(card) and "initialised from `google/vit-base-patch16-224`" in str(card)


def test_the_template_ships_inside_the_package():
    package = ROOT / "src" / "cmhash_hf"
    assert TEMPLATE_PATH.is_file() and TEMPLATE_PATH.resolve().is_relative_to(package.resolve())
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "hub/templates/*.md" in package_data["cmhash_hf"]
    assert "src/cmhash_hf/hub/templates/model_card.md" in (ROOT / "model_cards" / "README.md").read_text()
