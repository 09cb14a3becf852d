"""`load_cross_modal_dataset`: one entry point for built-in, local and Hub datasets, in the schema of docs/data.md.

Example:
    >>> from cmhash_hf.data import load_cross_modal_dataset
    >>> data = load_cross_modal_dataset("builtin:shapes", num_items=50)
    >>> data.name, len(data), data.num_labels, data.multi_hot().shape
    ('shapes', 50, 24, (50, 24))
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datasets
import numpy as np

from .shapes import build_shapes_dataset
from .splits import VALIDATION_SUFFIX, SplitIndices, carve_validation, make_split, split_file_name

logger = logging.getLogger(__name__)

#: ``builtin:<name>`` datasets: name → function(**kwargs) returning a `datasets.Dataset` in our schema.
BUILTIN_DATASETS = {"shapes": build_shapes_dataset}
LABEL_NAMES_FILE = "label_names.json"
BUILD_REPORT_FILE = "build_report.json"


@dataclass
class CrossModalDataset:
    """A dataset in the cmhash-hf schema plus what the library needs to know about it.

    Attributes:
        dataset: the rows (``image`` or ``image_features``; ``text`` and/or ``text_features``; ``labels``).
        name: short name used to pick split sizes (``shapes``, ``mirflickr25k``, ``wiki``, ...).
        label_names: names of the labels, in multi-hot column order.
        source: what was passed to `load_cross_modal_dataset`.
        local_path: the folder it was read from, where split files are saved (None for built-in / Hub data).
    """

    dataset: datasets.Dataset
    name: str
    label_names: list[str]
    source: str
    local_path: Path | None = None

    def __len__(self) -> int:
        return len(self.dataset)

    @property
    def num_labels(self) -> int:
        return len(self.label_names)

    @property
    def has_images(self) -> bool:
        return "image" in self.dataset.column_names

    @property
    def image_feature_dim(self) -> int | None:
        return _vector_width(self.dataset, "image_features")

    @property
    def text_feature_dim(self) -> int | None:
        return _vector_width(self.dataset, "text_features")

    @property
    def has_texts(self) -> bool:
        return "text" in self.dataset.column_names

    @property
    def has_raw_texts(self) -> bool:
        """Whether the text side reads captions (a ``text`` column, and no ``text_features`` to prefer)."""
        return self.has_texts and self.text_feature_dim is None

    @property
    def has_labels(self) -> bool:
        """Whether the rows carry labels (unsupervised training can do without; evaluation cannot)."""
        return "labels" in self.dataset.column_names

    def multi_hot(self, indices: np.ndarray | None = None) -> np.ndarray:
        """Multi-hot label matrix (float32, rows × num_labels) of all rows or of ``indices``.

        A dataset without labels gives a zero-width matrix (rows × 0).
        """
        rows = self.dataset if indices is None else self.dataset.select(np.asarray(indices))
        if not self.has_labels:
            return np.zeros((len(rows), 0), dtype=np.float32)
        return labels_to_multi_hot(rows["labels"], self.num_labels, self.labels_are_indices)

    @property
    def labels_are_indices(self) -> bool:
        """Whether the stored labels are lists of label indices (True) or multi-hot rows (False)."""
        return not self.has_labels or _labels_are_indices(self.dataset.features["labels"])

    def feature_matrix(self, column: str, indices: np.ndarray | None = None) -> np.ndarray:
        """The float32 matrix of a feature column (``image_features`` / ``text_features``), all rows or ``indices``."""
        if column not in self.dataset.column_names:
            raise ValueError(f"Dataset {self.source} has no {column!r} column.")
        rows = self.dataset if indices is None else self.dataset.select(np.asarray(indices))
        return np.asarray(rows.with_format("numpy")[column], dtype=np.float32)

    def texts(self, indices: np.ndarray | None = None) -> list[str]:
        """The ``text`` column of all rows or of ``indices``."""
        if not self.has_texts:
            raise ValueError(f"Dataset {self.source} has no 'text' column.")
        rows = self.dataset if indices is None else self.dataset.select(np.asarray(indices))
        return list(rows["text"])

    def get_split(self, protocol: str = "classic", seed: int = 0) -> SplitIndices:
        """The split of ``protocol`` drawn with ``seed``: read from the dataset folder if saved there, else drawn
        (and saved beside a local dataset when its folder is writable). ``<protocol>-validation`` is carved
        from that protocol's training set (see `carve_validation`)."""
        if protocol.endswith(VALIDATION_SUFFIX):
            return carve_validation(self.get_split(protocol[: -len(VALIDATION_SUFFIX)], seed))
        if self.local_path is not None:
            saved = self.local_path / split_file_name(protocol, seed)
            if saved.is_file():
                split = SplitIndices.load(saved)
                if max(split.query.max(initial=-1), split.database.max(initial=-1)) >= len(self):
                    raise ValueError(f"Split file {saved} indexes rows beyond the {len(self)} rows of the dataset.")
                return split
        split = make_split(len(self), dataset_name=self.name, protocol=protocol, seed=seed)
        if self.local_path is not None and os.access(self.local_path, os.W_OK):
            split.save(self.local_path / split_file_name(protocol, seed))
        return split

    def select(self, indices: np.ndarray) -> "CrossModalDataset":
        """A view on some rows (label names and name kept)."""
        return CrossModalDataset(self.dataset.select(np.asarray(indices)), self.name, self.label_names, self.source, None)


def _vector_width(dataset: datasets.Dataset, column: str) -> int | None:
    if column not in dataset.column_names:
        return None
    feature = dataset.features[column]
    length = getattr(feature, "length", -1)
    return int(length) if length and length > 0 else len(dataset[0][column])


def _labels_are_indices(feature: Any) -> bool:
    inner = getattr(feature, "feature", None)
    return isinstance(inner, datasets.ClassLabel) or getattr(feature, "length", -1) in (-1, None)


def labels_to_multi_hot(rows: list, num_labels: int, as_indices: bool) -> np.ndarray:
    """Turn a ``labels`` column (lists of positive indices, or multi-hot rows) into a float32 multi-hot matrix.

    Example:
        >>> labels_to_multi_hot([[0, 2], []], 3, as_indices=True).tolist()
        [[1.0, 0.0, 1.0], [0.0, 0.0, 0.0]]
    """
    matrix = np.zeros((len(rows), num_labels), dtype=np.float32)
    if as_indices:
        for row, positives in enumerate(rows):
            positives = list(positives)
            if positives and (min(positives) < 0 or max(positives) >= num_labels):
                raise ValueError(f"Row {row} has a label index outside 0..{num_labels - 1}: {positives}.")
            matrix[row, positives] = 1.0
        return matrix
    for row, vector in enumerate(rows):
        if len(vector) != num_labels:
            raise ValueError(f"Row {row} has a label vector of width {len(vector)}, expected {num_labels}.")
        matrix[row] = np.asarray(vector, dtype=np.float32) > 0
    return matrix


def _label_names(dataset: datasets.Dataset, folder: Path | None) -> list[str]:
    if "labels" not in dataset.column_names:
        return []  # an unlabelled dataset: only unsupervised methods train on it
    feature = dataset.features["labels"]
    inner = getattr(feature, "feature", None)
    if isinstance(inner, datasets.ClassLabel):
        return list(inner.names)
    if folder is not None and (folder / LABEL_NAMES_FILE).is_file():
        return list(json.loads((folder / LABEL_NAMES_FILE).read_text()))
    length = getattr(feature, "length", -1)
    if length and length > 0:
        return [f"label_{i}" for i in range(length)]
    highest = max((max(row) for row in dataset["labels"] if len(row)), default=-1)
    return [f"label_{i}" for i in range(highest + 1)]


def _built_name(folder: Path) -> str | None:
    """The dataset name a builder recorded in ``build_report.json`` (it picks the split sizes)."""
    report = folder / BUILD_REPORT_FILE
    return json.loads(report.read_text()).get("dataset") if report.is_file() else None


def _check_schema(dataset: datasets.Dataset, source: str) -> None:
    columns = set(dataset.column_names)
    if not columns & {"image", "image_features"}:
        raise ValueError(f"Dataset {source} has neither an 'image' nor an 'image_features' column (see docs/data.md).")
    if not columns & {"text", "text_features"}:
        raise ValueError(f"Dataset {source} has neither a 'text' nor a 'text_features' column (see docs/data.md).")


def _read_local(folder: Path) -> datasets.Dataset:
    if (folder / "state.json").is_file() or (folder / "dataset_dict.json").is_file():
        loaded = datasets.load_from_disk(str(folder))
    else:
        loaded = datasets.load_dataset(str(folder))
    return _single_split(loaded, str(folder))


def _single_split(loaded: Any, source: str) -> datasets.Dataset:
    if isinstance(loaded, datasets.DatasetDict):
        if len(loaded) == 1:
            return next(iter(loaded.values()))
        if "train" in loaded:
            return loaded["train"]
        raise ValueError(f"{source} holds splits {list(loaded)}; cmhash-hf expects one table of pairs.")
    return loaded


def load_cross_modal_dataset(name_or_path: str, **kwargs: Any) -> CrossModalDataset:
    """Load a dataset in the cmhash-hf schema.

    Args:
        name_or_path: ``builtin:<name>`` (e.g. ``builtin:shapes``), a local folder (``save_to_disk`` output,
            parquet files, or an imagefolder with metadata), or a Hugging Face Hub dataset id (read through
            ``datasets.load_dataset``, the same path a local parquet/imagefolder folder takes).
        kwargs: for built-in datasets, their generator's arguments (``num_items``, ``seed``, ``image_size``);
            otherwise passed to ``datasets.load_dataset`` (e.g. ``revision``).

    Raises:
        FileNotFoundError / ValueError naming the problem: an unknown built-in, a path that holds no dataset,
        a dataset that does not follow the schema.
    """
    source = str(name_or_path)
    local_path: Path | None = None
    if source.startswith("builtin:"):
        name = source.split(":", 1)[1]
        if name not in BUILTIN_DATASETS:
            raise ValueError(f"Unknown built-in dataset {source!r}; available: "
                             f"{', '.join('builtin:' + n for n in BUILTIN_DATASETS)}.")
        dataset = BUILTIN_DATASETS[name](**kwargs)
    elif Path(source).exists():
        local_path = Path(source)
        if not local_path.is_dir():
            raise ValueError(f"{source} is a file; give the folder that holds the dataset.")
        try:
            dataset = _read_local(local_path)
        except (FileNotFoundError, ValueError) as err:
            raise ValueError(f"{source} holds no readable dataset: {err}".splitlines()[0]) from None
        except OSError as err:  # e.g. an Arrow file cut short
            raise OSError(
                f"The dataset files in {source} cannot be read ({err}): one is truncated or damaged; "
                "build, save or download the dataset again.".splitlines()[0]
            ) from None
        name = _built_name(local_path) or dataset.info.dataset_name or local_path.name
    else:
        if source.startswith((".", "/", "~")) or source.count("/") > 1:
            raise FileNotFoundError(f"No dataset folder at {source}.")
        try:
            dataset = _single_split(datasets.load_dataset(source, **kwargs), source)
        except (FileNotFoundError, ConnectionError, OSError) as err:
            raise FileNotFoundError(
                f"Could not load the dataset {source!r} from the Hugging Face Hub (or its cache): {err}".splitlines()[0]
            ) from None
        name = dataset.info.dataset_name or source.split("/")[-1]
    _check_schema(dataset, source)
    return CrossModalDataset(dataset, str(name), _label_names(dataset, local_path), source, local_path)
