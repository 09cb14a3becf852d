"""benchmarks/mutations.py reads the loss terms from the source: it finds every method's terms and its edits do
what their names say (the full run takes minutes and is a benchmark, not a test)."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

from cmhash_hf import list_methods

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "mutations.py"


@pytest.fixture(scope="module")
def mutations():
    spec = importlib.util.spec_from_file_location("mutations_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def _mutated(mutation, function: str) -> str:
    tree = ast.parse(mutation.path.read_text(encoding="utf-8"))
    mutation.apply(tree)
    return ast.unparse(next(fn for name, fn in _functions(tree) if name == function))


def _functions(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                if isinstance(child, ast.FunctionDef):
                    yield f"{node.name}.{child.name}", child
        elif isinstance(node, ast.FunctionDef):
            yield node.name, node


def test_every_registered_method_has_loss_terms_to_mutate(mutations):
    found = mutations.all_mutations(list_methods())
    assert {m.target for m in found if " term " in m.name or " part " in m.name} == set(list_methods())


def test_sum_mutations_drop_flip_and_zero_one_term(mutations):
    by_name = {m.label.split(": ", 1)[1]: m for m in mutations.all_mutations(["dcmh"]) if "dcmh_loss" in m.label}
    assert set(by_name) == {
        f"{kind} term {term}" for kind in ("drop", "flip") for term in
        ("likelihood", "quantization_weight * quantization", "balance_weight * balance")
    } | {"zero weight in quantization_weight * quantization", "zero weight in balance_weight * balance"}
    line = "total = ({}) / (num_items * batch_size)"
    expected = {
        "drop term likelihood": "quantization_weight * quantization + balance_weight * balance",
        "flip term likelihood": "-likelihood + quantization_weight * quantization + balance_weight * balance",
        "flip term balance_weight * balance": "likelihood + quantization_weight * quantization - balance_weight * balance",
        "zero weight in quantization_weight * quantization": "likelihood + 0.0 * quantization + balance_weight * balance",
    }
    for label, total in expected.items():
        assert line.format(total) in _mutated(by_name[label], "dcmh_loss"), label


def test_table_mutations_and_hooks(mutations):
    found = {m.label: m for m in mutations.all_mutations(["dfah"])}
    zeroed = _mutated(found["DFAHModel._hashing_loss: zero weight 'unified'"], "DFAHModel._hashing_loss")
    assert "'unified': 0.0" in zeroed
    dropped = _mutated(found["DFAHModel._hashing_loss: drop part 'fusion'"], "DFAHModel._hashing_loss")
    assert "'fusion': pairwise_likelihood_loss" not in dropped and "'fusion': config.fusion_weight" in dropped
    skipped = _mutated(found["skip DFAHModel.on_epoch_end"], "DFAHModel.on_epoch_end")
    assert skipped.splitlines()[1].strip() == "pass"


def test_trainer_mutations_remove_the_freezing_and_the_epoch_end_call(mutations):
    freezing, epoch_end = mutations.trainer_mutations()
    assert "only_these_trainable(self.unwrapped" not in _mutated(freezing, "HashTrainer._run_step")
    assert "contextlib.nullcontext()" in _mutated(freezing, "HashTrainer._run_step")
    assert ".on_epoch_end(" not in _mutated(epoch_end, "HashTrainer._train")
