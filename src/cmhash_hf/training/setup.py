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
from ..encoders.presets import build_processor, encoder_specs
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
    train_indices = split.train[: args.max_train_samples] if args.max_train_samples else split.train
    if args.resume and (Path(args.output_dir) / PROCESSOR_FILE).is_file():
        processor = CrossModalHashProcessor.from_pretrained(args.output_dir)
    else:
        texts = data.texts(train_indices) if data.has_texts and data.text_feature_dim is None else None
        processor = build_processor(
            args.preset,
            texts,
            train_image_features=None if data.has_images else data.feature_matrix("image_features", train_indices),
            train_text_features=data.feature_matrix("text_features", train_indices) if texts is None else None,
            image_feature_transform=args.image_feature_transform,
            text_feature_transform=args.text_feature_transform,
        )
    image_spec, text_spec = encoder_specs(args.preset, processor, tuple(args.feature_hidden_dims))
    config = config_class(
        hash_bits=args.bits,
        image_encoder=image_spec,
        text_encoder=text_spec,
        label_names=data.label_names,
        dataset_name=data.source,
        **args.method_kwargs,
    )
    set_seed(args.seed)
    model = CrossModalHashModel.from_config(config)
    return PreparedRun(data, split, np.asarray(train_indices), processor, model)

