"""The shipped recipes: each is a valid set of training settings, and the Wiki ones hold exactly the settings
behind benchmarks/wiki.md (the benchmark's WIKI_SETTINGS and the epochs chosen there on validation)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from cmhash_hf.training.arguments import HashTrainingArguments, load_config_file

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").rglob("*.yaml"))


def _wiki_benchmark():
    spec = importlib.util.spec_from_file_location("wiki_benchmark", ROOT / "benchmarks" / "wiki.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _chosen_epochs() -> dict[str, int]:
    """The "chosen" column of the epochs table in benchmarks/wiki.md."""
    text = (ROOT / "benchmarks" / "wiki.md").read_text()
    table = text.split("## Epochs chosen on the validation split")[1].split("## Settings")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^\| (\w+) \|.*\| (\d+) \|$", table, re.M)}


@pytest.mark.parametrize("path", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_is_valid_training_settings_with_a_header(path):
    values = load_config_file(path)
    HashTrainingArguments(**{"method": "dcmh", **values, "output_dir": "unused"})
    assert path.read_text().startswith("# ") and "come from" in path.read_text()


def test_wiki_recipes_hold_exactly_the_settings_behind_wiki_md():
    wiki = _wiki_benchmark()
    chosen = _chosen_epochs()
    assert sorted(chosen) == sorted(p.stem for p in (ROOT / "recipes" / "wiki").glob("*.yaml"))
    for method, epochs in chosen.items():
        values = load_config_file(ROOT / "recipes" / "wiki" / f"{method}.yaml")
        assert values["method"] == method and values["epochs"] == epochs and values["bits"] == 32
        for key, value in wiki.WIKI_SETTINGS["training_kwargs"].items():
            assert values[key] == value, (method, key)
        assert values.get("method_kwargs", {}) == wiki.WIKI_SETTINGS["method_kwargs"].get(method, {})
        defaults = HashTrainingArguments(method=method, output_dir="x")
        others = {k: v for k, v in values.items() if k not in wiki.WIKI_SETTINGS["training_kwargs"]}
        for key in ("protocol", "split_seed", "seed", "lr_scheduler"):
            assert others[key] == getattr(defaults, key)  # what the benchmark ran with: the defaults
