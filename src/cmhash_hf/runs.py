"""The run folder: the names of its files, loading a trained run, and re-deriving its dataset, protocol and split.

A run folder (``cmhash train --output-dir``) holds the model and processor files, ``training_args.json`` (every
setting), ``train_results.json``, ``train_log.jsonl``, ``checkpoints/epoch-N/``, the split it was trained on under
``splits/``, and after ``cmhash evaluate`` / ``cmhash index`` also ``results.json`` with its plots and ``index/``.
Every module that reads or writes one of these names takes it from here.

Example:
    >>> import tempfile, json, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / TRAINING_ARGS_FILE).write_text(json.dumps({"dataset": "builtin:shapes", "protocol": "classic",
    ...                                                         "split_seed": 0, "dataset_kwargs": {"num_items": 3000}}))
    >>> chosen = run_data(folder, read_training_args(folder))
    >>> chosen.name, chosen.protocol, len(chosen.data), len(chosen.split.query)
    ('builtin:shapes', 'classic', 3000, 400)
    >>> checkpoint_dir(folder, 3).relative_to(folder).as_posix()
    'checkpoints/epoch-3'
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .auto import CrossModalHashModel
from .data import CrossModalDataset, SplitIndices, load_cross_modal_dataset
from .data.splits import split_file_name
from .modeling_utils import CrossModalHashPreTrainedModel
from .processing import CrossModalHashProcessor

TRAINING_ARGS_FILE = "training_args.json"
TRAIN_RESULTS_FILE = "train_results.json"
LOG_FILE = "train_log.jsonl"
CHECKPOINT_DIR = "checkpoints"
TRAINER_STATE_FILE = "trainer_state.json"
RESULTS_FILE = "results.json"
PR_CURVE_FILE = "pr_curve.png"
PRECISION_AT_K_FILE = "precision_at_k.png"
PER_LABEL_MAP_FILE = "per_label_map.png"
INDEX_FOLDER = "index"


def checkpoint_dir(run_dir: str | os.PathLike, epoch: int) -> Path:
    """The folder of the epoch-``epoch`` checkpoint of a run."""
    return Path(run_dir) / CHECKPOINT_DIR / f"epoch-{epoch}"


def split_path(run_dir: str | os.PathLike, protocol: str, split_seed: int) -> Path:
    """Where a run keeps the split it was trained on."""
    return Path(run_dir) / split_file_name(protocol, split_seed)


def read_training_args(run_dir: str | os.PathLike) -> dict[str, Any]:
    """The run's ``training_args.json`` as a dict (empty for a folder or Hub id without one)."""
    path = Path(run_dir) / TRAINING_ARGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {}


@dataclass
class LoadedRun:
    """A trained model with its processor and the settings it was trained with (if recorded)."""

    model: CrossModalHashPreTrainedModel
    processor: CrossModalHashProcessor
    training_args: dict[str, Any]


def check_training_finished(run_dir: str | os.PathLike) -> None:
    """Refuse a run folder whose training started (``training_args.json``) but never finished (no
    ``train_results.json``, which training writes last, with the model).

    Raises:
        ValueError: naming the folder and suggesting ``--resume``.
    """
    folder = Path(run_dir)
    if (folder / TRAINING_ARGS_FILE).is_file() and not (folder / TRAIN_RESULTS_FILE).is_file():
        raise ValueError(
            f"The training of {folder} never finished (it has no {TRAIN_RESULTS_FILE}): continue it with "
            f"`cmhash train --resume --output-dir {folder} ...` (same settings as its training_args.json), "
            "then evaluate it."
        )


def load_run(run_dir: str | os.PathLike) -> LoadedRun:
    """Load model, processor and ``training_args.json`` (if any) from a run folder or a Hub id.

    Raises:
        ValueError: the folder is a run whose training never finished (see `check_training_finished`).
    """
    check_training_finished(run_dir)
    model = CrossModalHashModel.from_pretrained(str(run_dir))
    processor = CrossModalHashProcessor.from_pretrained(str(run_dir))
    return LoadedRun(model, processor, read_training_args(run_dir))


def resolve_split(run_dir: str | os.PathLike, data: CrossModalDataset, protocol: str, split_seed: int) -> SplitIndices:
    """The split a run was trained on (saved in the run folder) when it fits ``data``, else the dataset's own."""
    saved = split_path(run_dir, protocol, split_seed)
    if saved.is_file():
        split = SplitIndices.load(saved)
        if split.num_items == len(data):
            return split
    return data.get_split(protocol, split_seed)


@dataclass
class RunData:
    """A run's dataset (or the one asked for) with the protocol and split to use on it."""

    name: str
    kwargs: dict[str, Any]
    data: CrossModalDataset
    protocol: str
    split_seed: int
    split: SplitIndices


def run_data(
    run_dir: str | os.PathLike,
    training_args: dict[str, Any],
    dataset: str | None = None,
    protocol: str | None = None,
    split_seed: int | None = None,
) -> RunData:
    """Re-derive what a run was trained on: ``dataset`` (default: the run's, with its ``dataset_kwargs``), the
    protocol and split seed (default: the run's) and the split (the run's saved one when it fits).

    Raises:
        ValueError: no dataset is given and the run records none.
    """
    name = dataset or training_args.get("dataset")
    if name is None:
        raise ValueError(f"{run_dir} records no training dataset: pass a dataset (--dataset).")
    kwargs = dict(training_args.get("dataset_kwargs", {})) if name == training_args.get("dataset") else {}
    data = load_cross_modal_dataset(name, **kwargs)
    protocol = protocol or training_args.get("protocol", "classic")
    split_seed = training_args.get("split_seed", 0) if split_seed is None else split_seed
    return RunData(name, kwargs, data, protocol, split_seed, resolve_split(run_dir, data, protocol, split_seed))
