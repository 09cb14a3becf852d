"""Datasets in one schema (docs/data.md): loading, split protocols, batching, built-in and real-data builders."""

from .collator import CrossModalCollator, IndexedRows
from .loading import BUILTIN_DATASETS, CrossModalDataset, labels_to_multi_hot, load_cross_modal_dataset
from .shapes import SHAPES_LABEL_NAMES, build_shapes_dataset
from .splits import PROTOCOLS, SplitIndices, make_split

__all__ = [
    "BUILTIN_DATASETS",
    "PROTOCOLS",
    "SHAPES_LABEL_NAMES",
    "CrossModalCollator",
    "CrossModalDataset",
    "IndexedRows",
    "SplitIndices",
    "build_shapes_dataset",
    "labels_to_multi_hot",
    "load_cross_modal_dataset",
    "make_split",
]
