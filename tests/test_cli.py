"""The `cmhash` command line end to end: train → evaluate → search, resume, and clear errors."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from cmhash_hf import CrossModalHashProcessor
from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.encoders.presets import PRESETS
from cmhash_hf.evaluation import evaluate_run
from cmhash_hf.model_selection import best_epochs, score_epoch_checkpoints
from cmhash_hf.training.arguments import add_arguments, arguments_from
from paths import SHARED_DATA

QUICK = ["--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "tiny", "--bits", "16", "--max-train-samples", "96",
         "--batch-size", "32"]


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A small DCMH run on builtin:shapes that learns: the CPU preset, 600 training items, 15 epochs."""
    out = tmp_path_factory.mktemp("run") / "dcmh16"
    assert main(["train", "--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "cpu", "--bits", "16",
                 "--epochs", "15", "--max-train-samples", "600", "--output-dir", str(out)]) == 0
    return out


def test_train_writes_a_loadable_checkpoint_and_everything_around_it(trained_run):
    for name in ("config.json", "model.safetensors", "cmhash_processor.json", "bow_vocabulary.json", "preprocessor_config.json",
                 "training_args.json", "train_results.json", "train_log.jsonl", "splits/classic-seed0.json"):
        assert (trained_run / name).is_file(), name
    assert sorted(p.name for p in (trained_run / "checkpoints").iterdir())[:2] == ["epoch-1", "epoch-10"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["model_type"] == "dcmh" and config["hash_bits"] == 16 and config["balance_weight"] == 0.1 and config["quantization_weight"] == 1.0
    log = [json.loads(line) for line in (trained_run / "train_log.jsonl").read_text().splitlines()]
    assert {row["epoch"] for row in log} == set(range(1, 16)) and all("image/loss" in r or "text/loss" in r for r in log)


def test_evaluate_is_far_above_chance(trained_run, capsys):
    assert main(["evaluate", str(trained_run), "--top-k", "50", "100"]) == 0
    printed = capsys.readouterr().out
    results = json.loads((trained_run / "results.json").read_text())
    assert {"map_i2t", "map_t2i", "chance_i2t", "chance_t2i", "dataset", "protocol", "bits", "num_queries", "num_database"} <= set(results)
    assert (results["num_queries"], results["num_database"], results["bits"]) == (400, 2600, 16)
    assert results["dataset"] == "builtin:shapes" and results["protocol"] == "classic"
    assert 0.25 < results["chance_i2t"] < 0.4
    for direction in ("i2t", "t2i"):
        assert results[f"map_{direction}"] > results[f"chance_{direction}"] + 0.1, results
    assert f"{results['map_i2t']:.4f}" in printed and "chance" in printed and "mAP@50" in printed and "P@10" in printed
    assert set(results["map_at_k_t2i"]) == {"50", "100"} and "1000" in results["precision_at_k_i2t"]
    assert results["reports"]["i2t"]["map"] == results["map_i2t"]
    assert 0.0 <= results["map_at_k_i2t"]["50"] <= 1.0 and results["precision_at_k_i2t"]["10"] > results["chance_i2t"]
    for plot in ("pr_curve.png", "precision_at_k.png"):
        assert (trained_run / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_search_prints_ranked_results(trained_run, capsys):
    assert main(["search", str(trained_run), "--text", "a red circle", "--image-queries", "1", "-k", "3"]) == 0
    printed = capsys.readouterr().out
    assert 'text → images: "a red circle"' in printed and "image → texts: query picture row" in printed
    assert printed.count("  1. ") == 2 and printed.count("  3. ") == 2


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert main(["train", *QUICK, "--epochs", "2", "--output-dir", str(straight)]) == 0
    assert main(["train", *QUICK, "--epochs", "1", "--output-dir", str(resumed)]) == 0
    assert main(["train", *QUICK, "--epochs", "2", "--output-dir", str(resumed), "--resume"]) == 0
    state = json.loads((resumed / "checkpoints" / "epoch-2" / "trainer_state.json").read_text())
    assert state == {"epoch": 2, "pass": 0, "batch": 0, "global_step": 12, "validation": []}
    a, b = load_file(straight / "model.safetensors"), load_file(resumed / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_save_total_limit_keeps_the_newest_checkpoints_and_resume_still_works(tmp_path):
    assert main(["train", *QUICK, "--epochs", "3", "--save-total-limit", "2", "--output-dir", str(tmp_path)]) == 0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-2", "epoch-3"]
    assert main(["train", *QUICK, "--epochs", "4", "--save-total-limit", "2", "--output-dir", str(tmp_path), "--resume"]) == 0
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["epoch-3", "epoch-4"]


def test_training_into_a_used_folder_needs_resume_or_overwrite(tmp_path, capsys):
    assert main(["train", *QUICK, "--epochs", "1", "--output-dir", str(tmp_path)]) == 0
    assert main(["train", *QUICK, "--epochs", "1", "--output-dir", str(tmp_path)]) == 2
    assert "holds checkpoints of an earlier run: pass --resume" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--method", "nosuch", "--output-dir", "x"], "Unknown hashing method 'nosuch'"),
        (["evaluate", "/no/such/run"], "/no/such/run holds no checkpoint"),
        (["train", "--method", "dcmh", "--output-dir", "x", "--set", "gamma"], "--set takes KEY=VALUE"),
        (["train", "--method", "dcmh", "--output-dir", "x", "--dataset", "builtin:nope"], "Unknown built-in dataset"),
        (["train", "--method", "dcmh", "--output-dir", "x", "--feature-hidden-dims", "0"],
         "feature_hidden_dims must be positive integers, got [0]"),
        (["bench", "--dataset", "builtin:shapes", "--methods", "dcmh", "--bits", "8", "--epoch-candidates", "0",
          "--output-dir", "x"], "Epoch candidates must be positive integers, got [0]"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_status_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("cmhash: error: ") and message in err and "Traceback" not in err


def test_console_script_module_runs_without_traceback():
    result = subprocess.run([sys.executable, "-m", "cmhash_hf.cli", "evaluate", "/no/such/run"], capture_output=True, text=True)
    assert result.returncode == 2
    assert "cmhash: error: /no/such/run holds no checkpoint" in result.stderr and "Traceback" not in result.stderr


def test_data_build_then_train_a_features_dataset_then_bench(tmp_path, capsys):
    """Wiki from the real file: build → train with features towers sized from the data (no preset) → bench."""
    wiki = tmp_path / "wiki"
    assert main(["data", "build", "wiki", "--source", str(SHARED_DATA / "wiki"), "--output", str(wiki), "--protocols", "classic"]) == 0
    run = tmp_path / "run"
    assert main(["train", "--method", "dcmh", "--dataset", str(wiki), "--bits", "16", "--epochs", "2", "--output-dir", str(run)]) == 0
    config = json.loads((run / "config.json").read_text())
    assert config["image_encoder"]["kind"] == "features" and config["image_encoder"]["input_dim"] == 128
    assert config["text_encoder"]["kind"] == "features" and config["text_encoder"]["input_dim"] == 10
    assert config["num_classes"] == 10
    # inputs are z-scored with the training rows' statistics, saved in the processor; other transforms on request
    processor = CrossModalHashProcessor.from_pretrained(run)
    data = load_cross_modal_dataset(str(wiki))
    train_rows = data.get_split("classic", 0).train
    scaled = processor(image_features=data.feature_matrix("image_features", train_rows))["image_features"].numpy()
    assert np.allclose(scaled.mean(axis=0), 0, atol=1e-4) and np.allclose(scaled.std(axis=0), 1, atol=1e-3)
    other_run = tmp_path / "sqrt"
    assert main(["train", "--method", "dcmh", "--dataset", str(wiki), "--bits", "16", "--epochs", "1",
                 "--image-feature-transform", "sqrt", "--text-feature-transform", "none",
                 "--feature-hidden-dims", "64", "32", "--output-dir", str(other_run)]) == 0
    other = CrossModalHashProcessor.from_pretrained(other_run)
    assert (other.image_feature_transform.kind, other.text_feature_transform.kind) == ("sqrt", "none")
    assert json.loads((other_run / "config.json").read_text())["image_encoder"]["hidden_dims"] == [64, 32]
    capsys.readouterr()
    bench = tmp_path / "bench"
    assert main(["bench", "--dataset", str(wiki), "--methods", "dcmh", "--bits", "8", "16", "--seeds", "2", "--epochs", "1",
                 "--output-dir", str(bench)]) == 0
    report = json.loads((bench / "results.json").read_text())
    assert len(report["runs"]) == 4 and report["settings"]["checkpoint"] == "last epoch"
    training = report["settings"]["training"]  # every training setting, defaults from HashTrainingArguments
    assert training["protocol"] == "classic" and training["split_seed"] == 0 and training["epochs"] == 1
    assert {(r["bits"], r["seed"]) for r in report["runs"]} == {(8, 0), (8, 1), (16, 0), (16, 1)}
    row = next(r for r in report["summary"] if r["bits"] == 16)
    values = [r["map_i2t"] for r in report["runs"] if r["bits"] == 16]
    assert row["map_i2t"]["n"] == 2 and abs(row["map_i2t"]["mean"] - sum(values) / 2) < 1e-6
    assert (bench / "results.md").read_text().startswith("| method | image→text 8 bits |")
    assert (bench / "pr_curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "| dcmh |" in capsys.readouterr().out
    # a second call reuses the finished runs (same settings) instead of training again
    weights = bench / "runs" / "dcmh-8bit-seed0" / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert main(["bench", "--dataset", str(wiki), "--methods", "dcmh", "--bits", "8", "16", "--seeds", "2", "--epochs", "1",
                 "--output-dir", str(bench)]) == 0
    assert weights.stat().st_mtime_ns == before
    assert json.loads((bench / "results.json").read_text())["summary"] == report["summary"]
    # epochs chosen on the validation split carved from train: one selection run, its checkpoints scored
    chosen = tmp_path / "chosen"
    assert main(["bench", "--dataset", str(wiki), "--methods", "dcmh", "--bits", "8", "16", "--epoch-candidates", "1", "3",
                 "--output-dir", str(chosen)]) == 0
    report = json.loads((chosen / "results.json").read_text())
    selection = report["epochs_chosen"]["dcmh"]
    assert selection["protocol"] == "classic-validation" and [p["epochs"] for p in selection["curve"]] == [1, 3]
    assert selection["epochs"] == best_epochs(selection["curve"])
    assert {r["epochs"] for r in report["runs"]} == {selection["epochs"]}
    assert report["settings"]["checkpoint"].startswith("last epoch; epochs per method chosen from [1, 3] on classic-validation")
    selection_run = chosen / "selection" / "dcmh"
    # the selection run keeps every epoch checkpoint; a benchmark run only its last
    assert sorted(p.name for p in (selection_run / "checkpoints").iterdir()) == ["epoch-1", "epoch-2", "epoch-3"]
    kept = [p.name for p in (chosen / "runs" / "dcmh-8bit-seed0" / "checkpoints").iterdir()]
    assert kept == [f"epoch-{selection['epochs']}"]
    assert json.loads((selection_run / "training_args.json").read_text())["bits"] == 16  # the middle length
    # the epoch-3 checkpoint scores exactly what evaluating the finished selection run gives
    last = evaluate_run(selection_run, write=False)
    assert (last["protocol"], last["num_queries"]) == ("classic-validation", 435)
    assert (selection["curve"][1]["map_i2t"], selection["curve"][1]["map_t2i"]) == (last["map_i2t"], last["map_t2i"])
    with pytest.raises(FileNotFoundError, match="has no checkpoint of epoch 7"):
        score_epoch_checkpoints(selection_run, [7])
    # a second call reuses the saved selection and the finished runs
    before = (selection_run / "model.safetensors").stat().st_mtime_ns
    assert main(["bench", "--dataset", str(wiki), "--methods", "dcmh", "--bits", "8", "16", "--epoch-candidates", "1", "3",
                 "--output-dir", str(chosen)]) == 0
    assert (selection_run / "model.safetensors").stat().st_mtime_ns == before
    assert json.loads((chosen / "results.json").read_text())["summary"] == report["summary"]


@pytest.mark.parametrize(
    "curve, expected",
    [
        ([{"epochs": 10, "map_i2t": 0.2, "map_t2i": 0.4}, {"epochs": 20, "map_i2t": 0.3, "map_t2i": 0.2}], 10),
        ([{"epochs": 10, "map_i2t": 0.2, "map_t2i": 0.4}, {"epochs": 20, "map_i2t": 0.3, "map_t2i": 0.4}], 20),
        ([{"epochs": 20, "map_i2t": 0.25, "map_t2i": 0.25}, {"epochs": 10, "map_i2t": 0.5, "map_t2i": 0.0}], 10),  # tie
    ],
)
def test_best_epochs_takes_the_best_mean_map_and_the_earliest_on_ties(curve, expected):
    assert best_epochs(curve) == expected


def test_every_registered_preset_is_a_choice_of_train(tmp_path, capsys):
    """`--preset` takes every preset `encoders.presets` registers (a stale copy of the names once refused cpu64)."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert sorted(PRESETS) == ["cpu", "cpu64", "tiny"]
    for name in PRESETS:
        ns = parser.parse_args(["--method", "dcmh", "--output-dir", str(tmp_path / name), "--preset", name])
        assert arguments_from(ns).preset == name
