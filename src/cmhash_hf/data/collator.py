"""Batching rows of a cross-modal dataset through a processor, for `torch.utils.data.DataLoader`.

Example:
    >>> from cmhash_hf import CrossModalHashProcessor
    >>> from cmhash_hf.data import load_cross_modal_dataset
    >>> data = load_cross_modal_dataset("builtin:shapes", num_items=8)
    >>> processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="bow")
    >>> collate = CrossModalCollator(processor, data.num_labels)
    >>> batch = collate([dict(data.dataset[i], sample_index=i) for i in range(4)])
    >>> sorted(batch), tuple(batch["labels"].shape)
    (['labels', 'pixel_values', 'sample_index', 'text_features'], (4, 24))
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch.utils.data import Dataset as TorchDataset

from .bad_rows import FIX_ROW
from .loading import CrossModalDataset, labels_to_multi_hot


class IndexedRows(TorchDataset):
    """A torch view of some rows of a `CrossModalDataset`; each item carries ``sample_index`` (its position) and
    ``dataset_row`` (its row in the full dataset: ``row_ids[position]``, or the position itself), which errors
    about a bad row name; ``remedy`` ends such an error (training names ``--skip-bad-rows`` there)."""

    def __init__(self, data: CrossModalDataset, columns: list[str], row_ids: Sequence[int] | None = None,
                 remedy: str = FIX_ROW) -> None:
        self.rows = data.dataset.select_columns(columns)
        self.row_ids = None if row_ids is None else [int(r) for r in row_ids]
        self.remedy = remedy

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, position: int) -> dict[str, Any]:
        position = int(position)
        row = position if self.row_ids is None else self.row_ids[position]
        try:
            values = self.rows[position]
        except (OSError, ValueError) as err:  # e.g. a picture whose bytes PIL cannot decode
            raise ValueError(f"Dataset row {row} could not be read: {err}. {self.remedy}") from None
        return dict(values, sample_index=position, dataset_row=row)


class CrossModalCollator:
    """Turns a list of rows into model inputs: processor outputs, multi-hot ``labels`` and ``sample_index``.

    The processor's sides decide which columns are read: pictures (``image``) or ``image_features``; raw ``text``
    for a tokenizer or bag-of-words side, ``text_features`` for feature vectors. With ``num_labels=0`` (a dataset without
    labels) the ``labels`` column is not read and batches carry no ``labels``. A batch that cannot be processed
    is an error naming the first bad dataset row, ended by ``remedy``.
    """

    def __init__(
        self, processor: Any, num_labels: int, labels_are_indices: bool = True, skip: tuple[str, ...] = (),
        remedy: str = FIX_ROW,
    ) -> None:
        self.processor = processor
        self.num_labels = num_labels
        self.labels_are_indices = labels_are_indices
        self.skip = tuple(skip)  # modalities whose inputs are not read (e.g. served from a feature cache)
        self.remedy = remedy

    @property
    def columns(self) -> list[str]:
        """The dataset columns this collator reads (each side of the processor names its own)."""
        sides = [self.processor.side(modality).column for modality in ("image", "text") if modality not in self.skip]
        return sides + ["labels"] if self.num_labels else sides

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        inputs: dict[str, Any] = {}
        for modality in ("image", "text"):
            if modality not in self.skip:
                side = self.processor.side(modality)
                inputs[side.argument] = [row[side.column] for row in rows]
        try:
            batch = dict(self.processor(**inputs, return_tensors="pt")) if inputs else {}
        except ValueError as err:
            raise self._bad_row_error(rows, err) from None
        if self.num_labels and "labels" in rows[0]:
            matrix = labels_to_multi_hot([row["labels"] for row in rows], self.num_labels, self.labels_are_indices)
            batch["labels"] = torch.from_numpy(matrix)
        if "sample_index" in rows[0]:
            batch["sample_index"] = torch.tensor([row["sample_index"] for row in rows], dtype=torch.long)
        return batch

    def _bad_row_error(self, rows: list[dict[str, Any]], err: ValueError) -> ValueError:
        """The batch could not be processed: find the first row that cannot be on its own and name it."""
        for position, row in enumerate(rows):
            name = row.get("dataset_row", row.get("sample_index", position))
            for modality in ("image", "text"):
                if modality in self.skip:
                    continue
                side = self.processor.side(modality)
                value = row[side.column]
                if isinstance(value, str) and not value.strip():
                    return ValueError(f"Dataset row {name} has an empty caption ({side.column!r} column): every caption "
                                      f"needs at least one word. {self.remedy}")
                try:
                    self.processor(**{side.argument: [value]}, return_tensors="pt")
                except ValueError as single:
                    return ValueError(f"Dataset row {name} could not be read ({side.column!r} column): {single} "
                                      f"{self.remedy}")
        return err
