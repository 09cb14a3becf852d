"""`HashTrainingArguments`: every setting of a training run, saved as ``training_args.json`` in the run folder.

Example:
    >>> args = HashTrainingArguments(method="dcmh", output_dir="runs/x", bits=16, epochs=1)
    >>> args.to_dict()["method"], args.batch_size
    ('dcmh', 64)
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..feature_transforms import FEATURE_TRANSFORMS
from .augmentation import IMAGE_AUGMENTATIONS

MIXED_PRECISION = ("no", "fp16", "bf16")


@dataclass
class HashTrainingArguments:
    """Settings of one `cmhash train` run.

    Args:
        method: a registered method name (see `cmhash_hf.list_methods()`).
        output_dir: the run folder: checkpoints, logs, and finally the model and processor.
        dataset: ``builtin:shapes``, a local dataset folder, or a Hub dataset id.
        preset: tower set-up for picture datasets (see `cmhash_hf.encoders.presets.PRESETS`); feature datasets
            always get ``features`` towers sized from the data.
        bits: code length.
        epochs: passes over the training set.
        learning_rate, weight_decay: AdamW settings (one optimiser per training step of the method).
        batch_size: per-process batch size.
        gradient_accumulation_steps: batches whose gradients are summed before each optimiser step.
        seed: seeds weights, data order and per-item state.
        protocol, split_seed: the split protocol and its seed (the training set is the protocol's train part).
        max_train_samples: keep only the first N training items (quick runs).
        mixed_precision: ``no``, ``fp16`` or ``bf16`` (on CPU, bf16 autocasts and fp16 is ignored by Accelerate).
        resume: continue from the last epoch checkpoint in ``output_dir``.
        overwrite_output_dir: start from scratch even if ``output_dir`` holds checkpoints of an earlier run.
        dataset_kwargs: arguments of a built-in dataset's generator (e.g. ``{"num_items": 1000}``).
        method_kwargs: overrides of the method's config fields (e.g. ``{"gamma": 0.5}``).
        num_workers: DataLoader worker processes.
        image_feature_transform, text_feature_transform: how ``image_features`` / ``text_features`` inputs are
            transformed before the towers (``standardize``, ``sqrt``, ``sqrt-standardize``, ``none``; fitted on
            the training set, saved in the processor). Feature datasets only.
        feature_hidden_dims: hidden widths of the MLP towers over feature vectors. Feature datasets only.
        save_total_limit: keep only the newest N epoch checkpoints (None: keep all). They hold the optimiser
            state, so a long run with every checkpoint kept can fill a disk.
        image_augmentation: ``none`` or ``dihedral`` (each training picture rotated by a multiple of 90° and
            maybe mirrored; see `cmhash_hf.training.augmentation`). Picture datasets only.
    """

    method: str
    output_dir: str
    dataset: str = "builtin:shapes"
    preset: str = "tiny"
    bits: int = 32
    epochs: int = 10
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    batch_size: int = 64
    gradient_accumulation_steps: int = 1
    seed: int = 0
    protocol: str = "classic"
    split_seed: int = 0
    max_train_samples: int | None = None
    mixed_precision: str = "no"
    resume: bool = False
    overwrite_output_dir: bool = False
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    method_kwargs: dict[str, Any] = field(default_factory=dict)
    num_workers: int = 0
    image_feature_transform: str = "standardize"
    text_feature_transform: str = "standardize"
    feature_hidden_dims: list[int] = field(default_factory=lambda: [512])
    save_total_limit: int | None = None
    image_augmentation: str = "none"

    def __post_init__(self) -> None:
        if self.mixed_precision not in MIXED_PRECISION:
            raise ValueError(f"mixed_precision must be one of {MIXED_PRECISION}, got {self.mixed_precision!r}.")
        for name in ("bits", "epochs", "batch_size", "gradient_accumulation_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}.")
        if self.max_train_samples is not None and self.max_train_samples < 1:
            raise ValueError(f"max_train_samples must be positive, got {self.max_train_samples}.")
        for name in ("image_feature_transform", "text_feature_transform"):
            if getattr(self, name) not in FEATURE_TRANSFORMS:
                raise ValueError(f"{name} must be one of {FEATURE_TRANSFORMS}, got {getattr(self, name)!r}.")
        if self.image_augmentation not in IMAGE_AUGMENTATIONS:
            raise ValueError(f"image_augmentation must be one of {IMAGE_AUGMENTATIONS}, got {self.image_augmentation!r}.")
        limit = self.save_total_limit
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise ValueError(f"save_total_limit must be a positive integer or None, got {self.save_total_limit!r}.")
        if any(not isinstance(w, int) or w < 1 for w in self.feature_hidden_dims):
            raise ValueError(f"feature_hidden_dims must be positive integers, got {self.feature_hidden_dims!r}.")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, path: str | Path) -> "HashTrainingArguments":
        return cls(**json.loads(Path(path).read_text()))
