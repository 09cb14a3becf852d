"""Evaluating a trained run: encode the query and database sets, score mAP both ways, write ``results.json``.

Example:
    >>> from cmhash_hf.evaluation import evaluate_run  # doctest: +SKIP
    >>> results = evaluate_run("runs/dcmh16", dataset="builtin:shapes")  # doctest: +SKIP
    >>> sorted(k for k in results if k.startswith(("map", "chance")))  # doctest: +SKIP
    ['chance_i2t', 'chance_t2i', 'map_i2t', 'map_t2i']
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
from .metrics import chance_mean_average_precision, mean_average_precision
from .modeling_utils import CrossModalHashPreTrainedModel
from .processing import CrossModalHashProcessor

RESULTS_FILE = "results.json"
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


def score_codes(query: DatasetCodes, database: DatasetCodes) -> dict[str, float]:
    """mAP@all image→text and text→image, and the chance level (the expected mAP of a random ranking)."""
    chance = float(chance_mean_average_precision(query.labels, database.labels))
    return {
        "map_i2t": float(mean_average_precision(query.image, database.text, query.labels, database.labels)),
        "map_t2i": float(mean_average_precision(query.text, database.image, query.labels, database.labels)),
        "chance_i2t": chance,
        "chance_t2i": chance,
    }


def evaluate_run(
    run_dir: str | Path,
    dataset: str | None = None,
    protocol: str | None = None,
    split_seed: int | None = None,
    batch_size: int = 256,
    write: bool = True,
) -> dict[str, Any]:
    """Evaluate a run folder on ``dataset`` (default: the dataset it was trained on) and write ``results.json``.

    Queries and database come from the split protocol (default: the run's); the database is encoded by the
    model itself, and the checkpoint is the run's last epoch.
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
        "checkpoint": "last epoch",
        **score_codes(query, database),
    }
    if write and Path(run_dir).is_dir():
        atomic_write_text(Path(run_dir) / RESULTS_FILE, json.dumps(results, indent=2))
    return results


def format_results(results: dict[str, Any]) -> str:
    """A small text table of a results dict (mAP beside chance)."""
    lines = [
        f"{results['method']} · {results['bits']} bits · {results['dataset']} ({results['protocol']}, split seed "
        f"{results['split_seed']}) · {results['num_queries']} queries × {results['num_database']} database items",
        f"{'direction':<14}{'mAP@all':>10}{'chance':>10}",
        f"{'image→text':<14}{results['map_i2t']:>10.4f}{results['chance_i2t']:>10.4f}",
        f"{'text→image':<14}{results['map_t2i']:>10.4f}{results['chance_t2i']:>10.4f}",
    ]
    return "\n".join(lines)

