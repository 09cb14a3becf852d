"""Encoding whole datasets to binary codes in batches, with a progress bar (lists of pictures and texts:
`cmhash_hf.batch_encoding`, ``model.encode``).

Example:
    >>> from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
    >>> from cmhash_hf.data import load_cross_modal_dataset
    >>> data = load_cross_modal_dataset("builtin:shapes", num_items=6)
    >>> processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="bow")
    >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=8,
    ...     text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    >>> codes = encode_dataset(model, processor, data, batch_size=4)
    >>> codes.image.shape, codes.text.shape, codes.image.dtype
    ((6, 8), (6, 8), dtype('int8'))
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data import CrossModalCollator, CrossModalDataset, IndexedRows
from .modeling_utils import CrossModalHashPreTrainedModel
from .processing import CrossModalHashProcessor


@dataclass
class DatasetCodes:
    """Codes of the image and text side of some rows, int8 in {-1, +1}, plus their multi-hot labels."""

    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray


def encode_dataset(
    model: CrossModalHashPreTrainedModel,
    processor: CrossModalHashProcessor,
    data: CrossModalDataset,
    indices: np.ndarray | None = None,
    batch_size: int = 256,
    description: str = "encoding",
) -> DatasetCodes:
    """Encode both modalities of ``data`` (or of the rows ``indices``) to int8 codes."""
    rows = data if indices is None else data.select(indices)
    collator = CrossModalCollator(processor, data.num_labels, data.labels_are_indices)
    loader = DataLoader(IndexedRows(rows, collator.columns, row_ids=indices), batch_size=batch_size, collate_fn=collator)
    image_codes, text_codes, labels = [], [], []
    with torch.inference_mode():
        for batch in tqdm(loader, desc=description, leave=False, disable=None):
            labels.append(batch.pop("labels").numpy())
            batch.pop("sample_index")
            image_codes.append(model.encode_image(**batch).cpu().numpy())
            text_codes.append(model.encode_text(**batch).cpu().numpy())
    return DatasetCodes(np.concatenate(image_codes), np.concatenate(text_codes), np.concatenate(labels))

