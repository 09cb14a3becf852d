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

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from transformers import set_seed

from ..auto import CrossModalHashModel, get_method
from ..data import CrossModalDataset, SplitIndices, load_cross_modal_dataset
from ..data.bad_rows import SKIPPED_ROWS_FILE, SkippedRow, find_bad_rows, read_skipped_rows, rows_without_labels
from ..data.splits import validation_protocol
from ..encoders.presets import build_processor, encoder_specs
from ..encoders.pretrained import load_image_processor, load_tokenizer
from ..modeling_utils import CrossModalHashPreTrainedModel
from ..processing import PROCESSOR_FILE, CrossModalHashProcessor
from .arguments import HashTrainingArguments

logger = logging.getLogger(__name__)


@dataclass
class PreparedRun:
    """The pieces of a training run."""

    data: CrossModalDataset
    split: SplitIndices
    train_indices: np.ndarray
    processor: CrossModalHashProcessor
    model: CrossModalHashPreTrainedModel
    validation: SplitIndices | None = None  # with eval_every_epochs: the split scored during training
    skipped: list[SkippedRow] = field(default_factory=list)  # with skip_bad_rows: training rows left out


def prepare_run(args: HashTrainingArguments) -> PreparedRun:
    """Load the dataset, draw its split, and build processor and model for ``args``.

    On ``--resume`` the processor saved in the run folder is reused, so the tokenizer or vocabulary (and hence
    the model's shapes) are exactly those of the interrupted run. With ``skip_bad_rows`` the training rows that
    cannot be used are left out before anything else is built from them (`without_bad_rows`).
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
    train_indices = np.asarray(train_part[: args.max_train_samples] if args.max_train_samples else train_part)
    skipped: list[SkippedRow] = []
    if args.skip_bad_rows:
        train_indices, skipped = without_bad_rows(args, data, train_indices, model_class.uses_labels)
    if model_class.uses_labels:
        check_rows_have_labels(data, train_indices, args.method)
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
    return PreparedRun(data, split, train_indices, processor, model, validation, skipped)


def without_bad_rows(args: HashTrainingArguments, data: CrossModalDataset, train_indices: np.ndarray,
                  need_labels: bool) -> tuple[np.ndarray, list[SkippedRow]]:
    """The training rows without those that cannot be used, and those (`cmhash_hf.data.bad_rows`).

    A pre-pass over the training rows rather than dropping rows from batches: the training set is fixed before
    the processor, the per-item state and the batch order are built on it, so every epoch sees the same rows and
    sample indices stay positions in one list. ``--resume`` reads the list recorded in the run folder
    (``skipped_rows.json``) instead of searching again, so the resumed run trains on exactly the same rows.
    """
    recorded = Path(args.output_dir) / SKIPPED_ROWS_FILE
    if args.resume and recorded.is_file():
        skipped = read_skipped_rows(recorded)
    else:
        skipped = find_bad_rows(data, train_indices, need_labels=need_labels)
    if skipped:
        logger.warning("Leaving out %d of %d training rows that cannot be used (--skip-bad-rows); they are listed "
                       "at the end and in %s.", len(skipped), len(train_indices), recorded)
    left_out = np.array([item.row for item in skipped], dtype=np.int64)
    kept = train_indices[~np.isin(train_indices, left_out)]
    if not kept.size:
        raise ValueError(f"None of the {len(train_indices)} training rows of {data.source} can be used (row "
                         f"{skipped[0]}): fix the dataset, or check that --dataset names the one you mean.")
    return kept, skipped


def check_rows_have_labels(data: CrossModalDataset, rows: np.ndarray, method: str) -> None:
    """Refuse training rows without any label for a supervised method, naming the dataset rows.

    A row without labels would be "similar to nothing" for every label-based loss: training would go on and
    learn something silently wrong.

    Example:
        >>> data = load_cross_modal_dataset("builtin:shapes", num_items=4)
        >>> check_rows_have_labels(data, np.arange(4), "dcmh")  # every shapes row has labels
    """
    empty = rows_without_labels(data, rows)
    if empty.size:
        shown = ", ".join(str(int(r)) for r in empty[:5]) + (", ..." if empty.size > 5 else "")
        raise ValueError(
            f"Row {int(empty[0])} of {data.source} has no labels ({empty.size} training row(s) without labels: "
            f"{shown}), but {method} is a supervised method that learns from labels: give those rows labels, remove "
            "them from the dataset, pass --skip-bad-rows to train on the other rows, or train an unsupervised method "
            "(e.g. dbrc)."
        )


def _new_processor(args: HashTrainingArguments, data: CrossModalDataset, train_indices: np.ndarray) -> CrossModalHashProcessor:
    """The processor of a new run: the pretrained encoders' own image processor / tokenizer where a side has one,
    else the preset's (pictures, raw text) or the feature checks and transforms (feature datasets).

    With ``freeze_encoders`` a tokenizer side pads every text to ``max_text_length`` tokens (`TokenSide`): a
    frozen transformer's output for a text then does not depend on the other texts of its batch, so the feature
    cache (computed in its own batches), training without the cache and later encoding with the saved processor
    give bit-identical tower outputs. Automatic rather than a setting: see docs/decisions.md."""
    vision, text = args.image_encoder_name, args.text_encoder_name
    if vision and not data.has_images:
        raise ValueError(f"--vision-encoder / --encoders give a picture tower, but {args.dataset} has no 'image' "
                         "column (its image side is feature vectors): drop the vision encoder for this dataset.")
    raw_texts = data.has_raw_texts
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
        pad_to_max_length=args.freeze_encoders,
    )

