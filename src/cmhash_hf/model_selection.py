"""Choosing the number of training epochs on a validation split carved from the training set.

One run trains on ``<protocol>-validation`` (20 % of the protocol's training items held out as validation
queries, the rest both training set and database; see `cmhash_hf.data.splits.carve_validation`) for the largest
candidate epoch count; the epoch checkpoints at every candidate are scored on the validation queries, and the
count with the best mean of image→text and text→image mAP wins (the smaller count on a tie). The protocol's own
query set is never looked at.

The epoch-E checkpoint of the longest run stands for an E-epoch run. That is exact when a method's schedule does
not depend on the total number of epochs (there is no learning-rate schedule, and data order depends only on
seed and epoch), which holds for every method (DCPH's proxy stage is a number of steps of its own).

Example:
    >>> curve = [{"epochs": 20, "map_i2t": 0.25, "map_t2i": 0.50}, {"epochs": 40, "map_i2t": 0.27, "map_t2i": 0.52}]
    >>> best_epochs(curve)
    40
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from .data.splits import validation_protocol
from .evaluation import encode_split, score_codes
from .runs import checkpoint_dir, load_run, run_data
from .training import HashTrainingArguments, train


def score_epoch_checkpoints(run_dir: str | Path, epochs: list[int]) -> list[dict[str, Any]]:
    """mAP of both directions of the run's epoch checkpoints ``epochs``, on the split the run was trained on."""
    run = load_run(run_dir)
    chosen = run_data(run_dir, run.training_args)
    data, split = chosen.data, chosen.split
    curve = []
    for epoch in sorted(epochs):
        weights = checkpoint_dir(run_dir, epoch) / "model.safetensors"
        if not weights.is_file():
            raise FileNotFoundError(f"{run_dir} has no checkpoint of epoch {epoch} ({weights} is missing).")
        run.model.load_state_dict(load_file(str(weights)))
        scores = score_codes(*encode_split(run, data, split))
        curve.append({"epochs": epoch, "map_i2t": scores["map_i2t"], "map_t2i": scores["map_t2i"]})
    return curve


def best_epochs(curve: list[dict[str, Any]]) -> int:
    """The epoch count with the best mean of ``map_i2t`` and ``map_t2i`` (the earliest among equals)."""
    if not curve:
        raise ValueError("No validation scores to choose the number of epochs from.")
    return max(curve, key=lambda point: (point["map_i2t"] + point["map_t2i"], -point["epochs"]))["epochs"]


def check_epoch_candidates(candidates: list[int]) -> None:
    """A clear error unless ``candidates`` is a non-empty list of positive integers."""
    if not candidates or any(isinstance(e, bool) or not isinstance(e, int) or e < 1 for e in candidates):
        raise ValueError(f"Epoch candidates must be positive integers, got {candidates!r}.")


def choose_epochs_on_validation(args: HashTrainingArguments, candidates: list[int]) -> dict[str, Any]:
    """Train ``args`` on the validation split of its protocol for ``max(candidates)`` epochs (into
    ``args.output_dir``, keeping every checkpoint) and return ``{"epochs": best, "curve": [...], "protocol": ...}``."""
    check_epoch_candidates(candidates)
    protocol = validation_protocol(args.protocol)
    run_args = HashTrainingArguments(**{**args.to_dict(), "protocol": protocol, "epochs": max(candidates),
                                        "overwrite_output_dir": True, "resume": False, "save_total_limit": None})
    train(run_args)
    curve = score_epoch_checkpoints(run_args.output_dir, candidates)
    return {"epochs": best_epochs(curve), "curve": curve, "protocol": protocol}
