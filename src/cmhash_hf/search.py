"""Cross-modal search over a dataset's database with a trained run: text → images and image → texts.

Example:
    >>> import tempfile
    >>> from cmhash_hf.training import HashTrainingArguments, train
    >>> run_dir = tempfile.mkdtemp()
    >>> _ = train(HashTrainingArguments(method="dcmh", output_dir=run_dir, bits=16, epochs=1,
    ...                                 dataset_kwargs={"num_items": 2400}, max_train_samples=32))
    ... # doctest: +ELLIPSIS
    epoch 1/1 done: ...
    >>> session = RetrievalSession.from_run(run_dir)
    >>> hits = session.text_to_images("a red circle", k=3)
    >>> len(hits), hits[0].distance <= hits[1].distance <= hits[2].distance
    (3, True)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .data import CrossModalDataset, load_cross_modal_dataset
from .evaluation import LoadedRun, load_run, resolve_split
from .encoding import encode_dataset
from .retrieval import HammingIndex


@dataclass
class SearchHit:
    """One result: the dataset row, its Hamming distance, its caption and label names."""

    row: int
    distance: int
    text: str | None
    labels: list[str]


class RetrievalSession:
    """A trained run plus Hamming indexes of a database's image codes and text codes."""

    def __init__(self, run: LoadedRun, data: CrossModalDataset, database_rows: np.ndarray, batch_size: int = 256) -> None:
        self.run = run
        self.data = data
        self.database_rows = np.asarray(database_rows)
        codes = encode_dataset(run.model, run.processor, data, self.database_rows, batch_size, "indexing database")
        bits = run.model.config.hash_bits
        self.image_index = HammingIndex(bits)
        self.image_index.add(codes.image, ids=self.database_rows)
        self.text_index = HammingIndex(bits)
        self.text_index.add(codes.text, ids=self.database_rows)

    @classmethod
    def from_run(cls, run_dir: str | Path, dataset: str | None = None, split: str = "database") -> "RetrievalSession":
        """Load a run and index the ``split`` part (``database`` by default) of its dataset."""
        run = load_run(run_dir)
        dataset = dataset or run.training_args.get("dataset")
        if dataset is None:
            raise ValueError(f"{run_dir} records no training dataset: pass a dataset.")
        kwargs = run.training_args.get("dataset_kwargs", {}) if dataset == run.training_args.get("dataset") else {}
        data = load_cross_modal_dataset(dataset, **kwargs)
        indices = resolve_split(run_dir, data, run.training_args.get("protocol", "classic"), run.training_args.get("split_seed", 0))
        if split not in ("query", "train", "database"):
            raise ValueError(f"split must be 'query', 'train' or 'database', got {split!r}.")
        return cls(run, data, getattr(indices, split))

    def _hits(self, distances: np.ndarray, rows: np.ndarray) -> list[SearchHit]:
        texts = self.data.texts(rows) if self.data.has_texts else [None] * len(rows)
        labels = self.data.multi_hot(rows)
        return [
            SearchHit(int(r), int(d), t, [self.data.label_names[j] for j in np.flatnonzero(lab)])
            for r, d, t, lab in zip(rows, distances, texts, labels)
        ]

    def text_to_images(self, text: str, k: int = 5) -> list[SearchHit]:
        """The ``k`` database pictures nearest to a free-text query."""
        codes = self.run.model.encode_text(**self.run.processor(text=[text], return_tensors="pt"))
        distances, rows = self.image_index.search(codes.numpy(), k)
        return self._hits(distances[0], rows[0])

    def image_to_texts(self, row: int, k: int = 5) -> list[SearchHit]:
        """The ``k`` database texts nearest to the picture (or image features) of dataset row ``row``."""
        item = self.data.dataset[int(row)]
        if self.run.processor.image_mode == "pixels":
            inputs = self.run.processor(images=[item["image"]], return_tensors="pt")
        else:
            inputs = self.run.processor(image_features=[item["image_features"]], return_tensors="pt")
        codes = self.run.model.encode_image(**inputs)
        distances, rows = self.text_index.search(codes.numpy(), k)
        return self._hits(distances[0], rows[0])

    def describe(self, row: int) -> SearchHit:
        """Caption and labels of a dataset row (distance 0)."""
        return self._hits(np.zeros(1, dtype=np.int64), np.asarray([row]))[0]
