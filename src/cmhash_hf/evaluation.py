"""Evaluating a trained run: encode the query and database sets, score mAP both ways, write ``results.json``.

Example:
    >>> import tempfile
    >>> from cmhash_hf.training import HashTrainingArguments, train
    >>> run_dir = tempfile.mkdtemp()
    >>> _ = train(HashTrainingArguments(method="dcmh", output_dir=run_dir, bits=16, epochs=1,
    ...                                 dataset_kwargs={"num_items": 2400}, max_train_samples=32))
    ... # doctest: +ELLIPSIS
    epoch 1/1 done: ...
    >>> results = evaluate_run(run_dir)
    >>> sorted(k for k in results if k.startswith(("map", "chance")))
    ['chance_i2t', 'chance_t2i', 'map_at_k_i2t', 'map_at_k_t2i', 'map_i2t', 'map_t2i']
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .auto import CrossModalHashModel
from .data import CrossModalDataset, SplitIndices, load_cross_modal_dataset
from .data.splits import split_file_name
from .encoding import DatasetCodes, encode_dataset
from .file_utils import atomic_write_text
from .metrics import plot_pr_curve, plot_precision_at_k, retrieval_report
from .modeling_utils import CrossModalHashPreTrainedModel
from .processing import CrossModalHashProcessor

RESULTS_FILE = "results.json"
PR_CURVE_FILE = "pr_curve.png"
PRECISION_AT_K_FILE = "precision_at_k.png"
DIRECTIONS = {"i2t": "image→text", "t2i": "text→image"}
TRAINING_ARGS_FILE = "training_args.json"


@dataclass
class LoadedRun:
    """A trained model with its processor and the settings it was trained with (if recorded)."""

    model: CrossModalHashPreTrainedModel
    processor: CrossModalHashProcessor
    training_args: dict[str, Any]


def load_run(run_dir: str | Path) -> LoadedRun:
    """Load model, processor and ``training_args.json`` (if any) from a run folder or a Hub id."""
    model = CrossModalHashModel.from_pretrained(str(run_dir))
    processor = CrossModalHashProcessor.from_pretrained(str(run_dir))
    args_path = Path(run_dir) / TRAINING_ARGS_FILE
    training_args = json.loads(args_path.read_text()) if args_path.is_file() else {}
    return LoadedRun(model, processor, training_args)


def resolve_split(run_dir: str | Path, data: CrossModalDataset, protocol: str, split_seed: int) -> SplitIndices:
    """The split a run was trained on (saved in the run folder) when it fits ``data``, else the dataset's own."""
    saved = Path(run_dir) / split_file_name(protocol, split_seed)
    if saved.is_file():
        split = SplitIndices.load(saved)
        if split.num_items == len(data):
            return split
    return data.get_split(protocol, split_seed)


def encode_split(run: LoadedRun, data: CrossModalDataset, split: SplitIndices, batch_size: int = 256) -> tuple[DatasetCodes, DatasetCodes]:
    """Codes of the query set and of the database."""
    query = encode_dataset(run.model, run.processor, data, split.query, batch_size, "encoding queries")
    database = encode_dataset(run.model, run.processor, data, split.database, batch_size, "encoding database")
    return query, database


def score_codes(query: DatasetCodes, database: DatasetCodes, top_k: tuple[int, ...] = ()) -> dict[str, Any]:
    """Retrieval reports of both directions (`cmhash_hf.metrics.retrieval_report`) and the headline numbers.

    Returns ``map_i2t``/``map_t2i`` (mAP@all), ``chance_i2t``/``chance_t2i`` (the expected mAP of a random
    ranking), ``map_at_k_*`` and ``precision_at_k_*`` (keyed by ``str(k)``), and the full ``reports``.
    """
    reports = {
        "i2t": retrieval_report(query.image, database.text, query.labels, database.labels, top_k_values=top_k),
        "t2i": retrieval_report(query.text, database.image, query.labels, database.labels, top_k_values=top_k),
    }
    results: dict[str, Any] = {}
    for direction, report in reports.items():
        results[f"map_{direction}"] = report["map"]
        results[f"chance_{direction}"] = report["chance_map"]
        results[f"map_at_k_{direction}"] = report["map_at_k"]
        results[f"precision_at_k_{direction}"] = report["precision_at_k"]
    results["reports"] = reports
    return results


def _checkpoint_of(run_dir: str | Path) -> str:
    """Which checkpoint the run's model is, as its ``train_results.json`` records it (a validation-chosen epoch
    with ``load_best_model``), else the last epoch."""
    path = Path(run_dir) / "train_results.json"
    recorded = json.loads(path.read_text()).get("checkpoint") if path.is_file() else None
    return recorded or "last epoch"


def evaluate_run(
    run_dir: str | Path,
    dataset: str | None = None,
    protocol: str | None = None,
    split_seed: int | None = None,
    batch_size: int = 256,
    top_k: tuple[int, ...] = (),
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate a run folder on ``dataset`` (default: the dataset it was trained on).

    Queries and database come from the split protocol (default: the run's); the database is encoded by the
    model itself, and the checkpoint is the run's model (its last epoch, or the epoch chosen on validation).
    With ``write``, ``results.json``, the PR curve
    (``pr_curve.png``) and precision@k (``precision_at_k.png``) are written into the run folder, and its
    model card (``README.md``) is rewritten with the new results.
    """
    run = load_run(run_dir)
    args = run.training_args
    dataset = dataset or args.get("dataset")
    if dataset is None:
        raise ValueError(f"{run_dir} records no training dataset: pass --dataset.")
    protocol = protocol or args.get("protocol", "classic")
    split_seed = args.get("split_seed", 0) if split_seed is None else split_seed
    dataset_kwargs = args.get("dataset_kwargs", {}) if dataset == args.get("dataset") else {}
    data = load_cross_modal_dataset(dataset, **dataset_kwargs)
    if not data.num_labels:
        raise ValueError(f"{dataset} has no labels: evaluation needs them (relevant = sharing a label); pass --dataset.")
    if data.num_labels != run.model.config.num_classes and run.model.config.num_classes:
        raise ValueError(
            f"{dataset} has {data.num_labels} labels but the model was trained on {run.model.config.num_classes}."
        )
    split = resolve_split(run_dir, data, protocol, split_seed)
    query, database = encode_split(run, data, split, batch_size)
    results: dict[str, Any] = {
        "method": run.model.config.model_type,
        "bits": run.model.config.hash_bits,
        "dataset": dataset,
        "protocol": protocol,
        "split_seed": split_seed,
        "num_queries": int(len(split.query)),
        "num_database": int(len(split.database)),
        "checkpoint": _checkpoint_of(run_dir),
        **score_codes(query, database, tuple(top_k)),
    }
    if write and Path(run_dir).is_dir():
        folder = Path(run_dir)
        named = {DIRECTIONS[d]: report for d, report in results["reports"].items()}
        title = f"{results['method']} · {results['bits']} bits · {dataset}"
        plot_pr_curve(named, folder / PR_CURVE_FILE, title=title)
        plot_precision_at_k(named, folder / PRECISION_AT_K_FILE, title=title)
        atomic_write_text(folder / RESULTS_FILE, json.dumps(results, indent=2))
        from .hub import write_model_card  # the card module reads this module's file names

        write_model_card(folder, run.model.config, results=results)
    return results


def format_results(results: dict[str, Any]) -> str:
    """A text table of a results dict: mAP@all beside chance, then mAP@k and precision@k per direction."""
    top_ks = list(results.get("map_at_k_i2t", {}))
    precision_ks = [k for k in results.get("precision_at_k_i2t", {}) if int(k) <= results["num_database"]]
    header = f"{'direction':<12}{'mAP@all':>9}{'chance':>9}" + "".join(f"{'mAP@' + k:>10}" for k in top_ks)
    header += "".join(f"{'P@' + k:>8}" for k in precision_ks)
    lines = [
        f"{results['method']} · {results['bits']} bits · {results['dataset']} ({results['protocol']}, split seed "
        f"{results['split_seed']}) · {results['num_queries']} queries × {results['num_database']} database items",
        header,
    ]
    for direction, name in DIRECTIONS.items():
        row = f"{name:<12}{results[f'map_{direction}']:>9.4f}{results[f'chance_{direction}']:>9.4f}"
        row += "".join(f"{results[f'map_at_k_{direction}'][k]:>10.4f}" for k in top_ks)
        row += "".join(f"{results[f'precision_at_k_{direction}'][k]:>8.4f}" for k in precision_ks)
        lines.append(row)
    return "\n".join(lines)
