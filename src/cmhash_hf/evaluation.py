"""Evaluating a trained run: encode the query and database sets, score mAP both ways, write ``results.json``.

Besides the headline mAP, an evaluation can score by concept (`cmhash_hf.metrics.concepts`): ``labels`` gives
label subsets (names), each scored with relevance restricted to it (recorded under ``label_subsets``), and
``per_label`` adds each label's mAP on its own in both directions beside its chance level (``per_label`` in
``results.json`` and the bar plot ``per_label_map.png``).

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
from typing import Any, Sequence

import numpy as np

from .data import CrossModalDataset, SplitIndices
from .encoding import DatasetCodes, encode_dataset
from .file_utils import atomic_write_text, folder_lock, staged_files
from .metrics import (
    label_subset_report,
    per_label_map,
    plot_per_label_map,
    plot_pr_curve,
    plot_precision_at_k,
    retrieval_report,
)
from .runs import (PER_LABEL_MAP_FILE, PR_CURVE_FILE, PRECISION_AT_K_FILE, RESULTS_FILE, TRAIN_RESULTS_FILE, LoadedRun,
                   load_run, run_data)

DIRECTIONS = {"i2t": "image→text", "t2i": "text→image"}


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
    path = Path(run_dir) / TRAIN_RESULTS_FILE
    recorded = json.loads(path.read_text()).get("checkpoint") if path.is_file() else None
    return recorded or "last epoch"


def label_columns(label_names: Sequence[str], names: Sequence[str], dataset: str = "the dataset") -> list[int]:
    """The multi-hot columns of the labels called ``names``; an unknown name is a `ValueError` listing the labels.

    Example:
        >>> label_columns(["circle", "square", "red"], ["red", "circle"])
        [2, 0]
    """
    index = {name: i for i, name in enumerate(label_names)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise ValueError(f"{dataset} has no label {', '.join(map(repr, unknown))}; its labels are: {', '.join(label_names)}.")
    return [index[name] for name in names]


def score_label_subset(query: DatasetCodes, database: DatasetCodes, names: Sequence[str], columns: Sequence[int]) -> dict[str, Any]:
    """Both directions with relevance restricted to the labels ``columns`` (called ``names``), JSON-ready.

    Returns ``labels``, ``num_queries`` (scored), ``num_queries_left_out`` (queries with none of the labels),
    and ``map_*`` / ``chance_*`` / ``precision_at_k_*`` per direction (``i2t``, ``t2i``).
    """
    reports = {
        "i2t": label_subset_report(query.image, database.text, query.labels, database.labels, columns),
        "t2i": label_subset_report(query.text, database.image, query.labels, database.labels, columns),
    }
    subset: dict[str, Any] = {
        "labels": list(names),
        "num_queries": reports["i2t"]["num_queries"],
        "num_queries_left_out": reports["i2t"]["num_queries_left_out"],
    }
    for direction, report in reports.items():
        subset[f"map_{direction}"] = report["map"]
        subset[f"chance_{direction}"] = report["chance_map"]
        subset[f"precision_at_k_{direction}"] = report["precision_at_k"]
    return subset


def _json_floats(values: np.ndarray) -> list[float | None]:
    """Floats for JSON, NaN as ``None``."""
    return [None if np.isnan(v) else float(v) for v in values]


def score_per_label(query: DatasetCodes, database: DatasetCodes, label_names: Sequence[str]) -> dict[str, Any]:
    """Each label's mAP on its own in both directions, its chance level and its number of queries (JSON-ready;
    ``None`` for a label no query has)."""
    i2t = per_label_map(query.image, database.text, query.labels, database.labels)
    t2i = per_label_map(query.text, database.image, query.labels, database.labels)
    return {
        "labels": list(label_names),
        "num_queries": i2t["num_queries"].tolist(),
        "map_i2t": _json_floats(i2t["map"]),
        "map_t2i": _json_floats(t2i["map"]),
        "chance": _json_floats(i2t["chance"]),
    }


def evaluate_run(
    run_dir: str | Path,
    dataset: str | None = None,
    protocol: str | None = None,
    split_seed: int | None = None,
    batch_size: int = 256,
    top_k: tuple[int, ...] = (),
    write: bool = True,
    labels: Sequence[Sequence[str]] = (),
    per_label: bool = False,
) -> dict[str, Any]:
    """Evaluate a run folder on ``dataset`` (default: the dataset it was trained on).

    ``labels``: label subsets (lists of label names), each also scored with relevance restricted to it
    (``results["label_subsets"]``). ``per_label``: also each label's mAP on its own (``results["per_label"]``,
    and ``per_label_map.png`` with ``write``).

    Queries and database come from the split protocol (default: the run's); the database is encoded by the
    model itself, and the checkpoint is the run's model (its last epoch, or the epoch chosen on validation).
    With ``write``, ``results.json``, the PR curve
    (``pr_curve.png``) and precision@k (``precision_at_k.png``) are written into the run folder, and its
    model card (``README.md``) is rewritten with the new results.
    """
    if write and Path(run_dir).is_dir():
        with folder_lock(run_dir, "cmhash evaluate"):
            return _evaluate_run(run_dir, dataset, protocol, split_seed, batch_size, top_k, write, labels, per_label)
    return _evaluate_run(run_dir, dataset, protocol, split_seed, batch_size, top_k, write, labels, per_label)


def _evaluate_run(run_dir: str | Path, dataset: str | None, protocol: str | None, split_seed: int | None,
                  batch_size: int, top_k: tuple[int, ...], write: bool, labels: Sequence[Sequence[str]] = (),
                  per_label: bool = False) -> dict[str, Any]:
    run = load_run(run_dir)
    chosen = run_data(run_dir, run.training_args, dataset, protocol, split_seed)
    dataset, protocol, split_seed, data = chosen.name, chosen.protocol, chosen.split_seed, chosen.data
    if not data.num_labels:
        raise ValueError(f"{dataset} has no labels: evaluation needs them (relevant = sharing a label); pass --dataset.")
    if data.num_labels != run.model.config.num_classes and run.model.config.num_classes:
        raise ValueError(
            f"{dataset} has {data.num_labels} labels but the model was trained on {run.model.config.num_classes}."
        )
    subsets = [(list(names), label_columns(data.label_names, names, dataset)) for names in labels]
    split = chosen.split
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
    if subsets:
        results["label_subsets"] = [score_label_subset(query, database, names, columns) for names, columns in subsets]
    if per_label:
        results["per_label"] = score_per_label(query, database, data.label_names)
    if write and Path(run_dir).is_dir():
        folder = Path(run_dir)
        named = {DIRECTIONS[d]: report for d, report in results["reports"].items()}
        title = f"{results['method']} · {results['bits']} bits · {dataset}"
        with staged_files(folder) as staging:
            plot_pr_curve(named, staging / PR_CURVE_FILE, title=title)
            plot_precision_at_k(named, staging / PRECISION_AT_K_FILE, title=title)
            if per_label:
                scores = results["per_label"]
                nan = float("nan")
                maps = {DIRECTIONS[d]: [nan if v is None else v for v in scores[f"map_{d}"]] for d in DIRECTIONS}
                chance = [nan if v is None else v for v in scores["chance"]]
                plot_per_label_map(scores["labels"], maps, chance, staging / PER_LABEL_MAP_FILE, title=title)
            atomic_write_text(staging / RESULTS_FILE, json.dumps(results, indent=2))
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
    for subset in results.get("label_subsets", []):
        lines.append(
            f"\nrelevance restricted to {len(subset['labels'])} label(s) ({', '.join(subset['labels'])}): "
            f"{subset['num_queries']} queries, {subset['num_queries_left_out']} without any of them left out"
        )
        lines.append(f"{'direction':<12}{'mAP@all':>9}{'chance':>9}")
        for direction, name in DIRECTIONS.items():
            lines.append(f"{name:<12}{subset[f'map_{direction}']:>9.4f}{subset[f'chance_{direction}']:>9.4f}")
    if "per_label" in results:
        lines.append(f"\n{'label':<14}{'queries':>8}{'I→T mAP':>9}{'T→I mAP':>9}{'chance':>9}")
        scores = results["per_label"]
        for i, label in enumerate(scores["labels"]):
            cells = [scores["map_i2t"][i], scores["map_t2i"][i], scores["chance"][i]]
            lines.append(f"{label:<14}{scores['num_queries'][i]:>8}" + "".join("        –" if v is None else f"{v:>9.4f}" for v in cells))
    return "\n".join(lines)
