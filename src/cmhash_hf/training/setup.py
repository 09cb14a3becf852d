"""Everything a run needs before its first step: data, split, processor, model.

Example:
    >>> from cmhash_hf.training import HashTrainingArguments, prepare_run
    >>> args = HashTrainingArguments(method="dcmh", output_dir="unused", bits=16,
    ...                              dataset_kwargs={"num_items": 2400}, max_train_samples=32)
    >>> run = prepare_run(args)
    >>> type(run.model).__name__, len(run.train_indices)
    ('DCMHModel', 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from transformers import set_seed

from ..auto import CrossModalHashModel, get_method
from ..data import CrossModalDataset, SplitIndices, load_cross_modal_dataset
from ..data.splits import validation_protocol
from ..encoders.presets import build_processor, encoder_specs
from ..encoders.pretrained import load_image_processor, load_tokenizer
from ..modeling_utils import CrossModalHashPreTrainedModel
from ..processing import PROCESSOR_FILE, CrossModalHashProcessor
from .arguments import HashTrainingArguments


@dataclass
class PreparedRun:
    """The pieces of a training run."""

    data: CrossModalDataset
    split: SplitIndices
    train_indices: np.ndarray
    processor: CrossModalHashProcessor
    model: CrossModalHashPreTrainedModel
    validation: SplitIndices | None = None  # with eval_every_epochs: the split scored during training


def prepare_run(args: HashTrainingArguments) -> PreparedRun:
    """Load the dataset, draw its split, and build processor and model for ``args``.

    On ``--resume`` the processor saved in the run folder is reused, so the tokenizer or vocabulary (and hence
    the model's shapes) are exactly those of the interrupted run.
    """
    config_class, model_class = get_method(args.method)  # unknown method: fail before any work
    config_class.check_overrides(args.method_kwargs)  # a typo in --set: fail before any work too
    set_seed(args.seed)
    data = load_cross_modal_dataset(args.dataset, **args.dataset_kwargs)
    if model_class.uses_labels and not data.num_labels:
        raise ValueError(
            f"{args.method} is a supervised method but {args.dataset} has no labels; train an unsupervised method "
            "(e.g. dbrc) on it, or give a dataset with a 'labels' column."
        )
    split = data.get_split(args.protocol, args.split_seed)
    # Validation during training: train on <protocol>-validation's training part, score on its queries.
    validation = data.get_split(validation_protocol(args.protocol), args.split_seed) if args.eval_every_epochs else None
    train_part = (validation or split).train
    train_indices = train_part[: args.max_train_samples] if args.max_train_samples else train_part
    if model_class.uses_labels:
        check_rows_have_labels(data, np.asarray(train_indices), args.method)
    if args.resume and (Path(args.output_dir) / PROCESSOR_FILE).is_file():
        processor = CrossModalHashProcessor.from_pretrained(args.output_dir)
    else:
        processor = _new_processor(args, data, train_indices)
    image_spec, text_spec = encoder_specs(args.preset, processor, tuple(args.feature_hidden_dims))
    set_seed(args.seed)
    model = CrossModalHashModel.from_encoders_pretrained(
        args.method,
        vision=args.image_encoder_name,
        text=args.text_encoder_name,
        hash_bits=args.bits,
        image_encoder=image_spec,
        text_encoder=text_spec,
        label_names=data.label_names,
        dataset_name=data.source,
        **args.method_kwargs,
    )
    return PreparedRun(data, split, np.asarray(train_indices), processor, model, validation)


def check_rows_have_labels(data: CrossModalDataset, rows: np.ndarray, method: str) -> None:
    """Refuse training rows without any label for a supervised method, naming the dataset rows.

    A row without labels would be "similar to nothing" for every label-based loss: training would go on and
    learn something silently wrong.

    Example:
        >>> data = load_cross_modal_dataset("builtin:shapes", num_items=4)
        >>> check_rows_have_labels(data, np.arange(4), "dcmh")  # every shapes row has labels
    """
    empty = rows[data.multi_hot(rows).sum(axis=1) == 0]
    if empty.size:
        shown = ", ".join(str(int(r)) for r in empty[:5]) + (", ..." if empty.size > 5 else "")
        raise ValueError(
            f"Row {int(empty[0])} of {data.source} has no labels ({empty.size} training row(s) without labels: "
            f"{shown}), but {method} is a supervised method that learns from labels: give those rows labels, remove "
            "them from the dataset, or train an unsupervised method (e.g. dbrc)."
        )


def _new_processor(args: HashTrainingArguments, data: CrossModalDataset, train_indices: np.ndarray) -> CrossModalHashProcessor:
    """The processor of a new run: the pretrained encoders' own image processor / tokenizer where a side has one,
    else the preset's (pictures, raw text) or the feature checks and transforms (feature datasets)."""
    vision, text = args.image_encoder_name, args.text_encoder_name
    if vision and not data.has_images:
        raise ValueError(f"--vision-encoder / --encoders give a picture tower, but {args.dataset} has no 'image' "
                         "column (its image side is feature vectors): drop the vision encoder for this dataset.")
    raw_texts = data.has_texts and data.text_feature_dim is None
    if text and not raw_texts:
        raise ValueError(f"--text-encoder / --encoders give a tokenizer tower, but {args.dataset} has no 'text' "
                         "column (its text side is feature vectors): drop the text encoder for this dataset.")
    texts = data.texts(train_indices) if raw_texts and not text else None
    return build_processor(
        args.preset,
        texts,
        train_image_features=None if data.has_images else data.feature_matrix("image_features", train_indices),
        train_text_features=None if raw_texts else data.feature_matrix("text_features", train_indices),
        image_feature_transform=args.image_feature_transform,
        text_feature_transform=args.text_feature_transform,
        image_processor=load_image_processor(vision) if vision else None,
        tokenizer=load_tokenizer(text) if text else None,
        max_length=args.max_text_length,
    )

