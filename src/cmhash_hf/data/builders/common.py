"""Helpers shared by every dataset builder: reading the source files, bags of words, and assembling the schema.

Every builder reads its source files with these helpers and hands the columns to :func:`assemble`, which
turns them into a ``datasets.Dataset`` in the schema of ``docs/data.md`` plus a small build report.

Example:
    >>> import numpy as np
    >>> built = assemble(
    ...     label_names=["cat", "dog"],
    ...     labels=np.array([[1, 0], [1, 1]]),
    ...     text=["a cat", "zzz"],
    ...     text_features=bag_of_words([["a", "cat"], ["zzz"]], ["cat", "dog"]),
    ...     vocabulary=["cat", "dog"],
    ...     description="toy",
    ... )
    >>> built.dataset[1]["labels"], built.report["label_counts"], built.report["empty_text_features"]
    ([0, 1], [2, 1], [1])
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa

from ..splits import SplitIndices

logger = logging.getLogger("cmhash_hf.data.builders")


@dataclass
class BuiltDataset:
    """What a builder returns: the dataset plus everything written next to it.

    Attributes:
        dataset: the rows in the schema of ``docs/data.md``.
        label_names: the label names, in ``ClassLabel`` index order.
        vocabulary: the words of the ``text_features`` bag of words, in column order (``None`` if the
            dataset has no bag of words).
        report: counts measured while building (rows, labels per column, empty bags of words, ...).
        fixed_splits: split protocols the source defines itself (e.g. Wiki's original train/test split),
            written instead of a seeded draw.
    """

    dataset: datasets.Dataset
    label_names: list[str]
    vocabulary: list[str] | None = None
    report: dict[str, Any] = field(default_factory=dict)
    fixed_splits: dict[str, SplitIndices] = field(default_factory=dict)


def require_file(path: Path, what: str) -> Path:
    """Return ``path`` if it is a file, else raise a ``FileNotFoundError`` naming the file expected.

    Example:
        >>> require_file(Path("/nonexistent/labels.txt"), "the label file")
        Traceback (most recent call last):
        ...
        FileNotFoundError: Expected the label file at /nonexistent/labels.txt, but there is no such file.
    """
    if not path.is_file():
        raise FileNotFoundError(f"Expected {what} at {path}, but there is no such file.")
    return path


def read_lines(path: Path, what: str = "a text file") -> list[str]:
    """Read a UTF-8 text file into its lines, without line endings.

    A final line ending does not make an extra empty line; empty lines elsewhere are kept, because the
    per-item files of a dataset are aligned row by row.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "tags.txt"
        >>> _ = path.write_text("sky blue \\n\\nsea\\n")
        >>> read_lines(path)
        ['sky blue ', '', 'sea']
    """
    text = require_file(path, what).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_binary_matrix(path: Path, num_columns: int | None = None, what: str = "a 0/1 matrix") -> np.ndarray:
    """Read a whitespace-separated 0/1 matrix (``0``/``1`` or ``0.0``/``1.0``), one row per line, as ``uint8``.

    Raises ``ValueError`` naming the line of a row of the wrong width or of a value other than 0 or 1.

    Example:
        >>> import tempfile
        >>> path = Path(tempfile.mkdtemp()) / "labels.txt"
        >>> _ = path.write_text("0.0 1.0 \\n1.0 1.0 \\n")
        >>> read_binary_matrix(path, num_columns=2).tolist()
        [[0, 1], [1, 1]]
    """
    rows = [np.asarray(line.split(), dtype=np.float32) for line in read_lines(path, what)]
    width = num_columns if num_columns is not None else (len(rows[0]) if rows else 0)
    for line_number, row in enumerate(rows, start=1):
        if row.shape != (width,):
            raise ValueError(f"{path} line {line_number} has {row.size} values; expected {width}.")
    matrix = np.stack(rows) if rows else np.zeros((0, width), dtype=np.float32)
    bad = np.argwhere((matrix != 0) & (matrix != 1))
    if bad.size:
        raise ValueError(f"{path} line {bad[0][0] + 1} holds {matrix[tuple(bad[0])]}; expected only 0 or 1.")
    return matrix.astype(np.uint8)


def bag_of_words(token_lists: Sequence[Sequence[str]], vocabulary: Sequence[str]) -> np.ndarray:
    """Binary bag of words: entry ``[i, j]`` is 1.0 when item ``i`` has the token ``vocabulary[j]``.

    Tokens match exactly (case-sensitive); repeated tokens still count 1.

    Example:
        >>> bag_of_words([["sky", "sky", "sea"], ["Sky"]], ["sea", "sky"]).tolist()
        [[1.0, 1.0], [0.0, 0.0]]
    """
    column = {word: j for j, word in enumerate(vocabulary)}
    if len(column) != len(vocabulary):
        raise ValueError("The vocabulary holds a word twice.")
    matrix = np.zeros((len(token_lists), len(vocabulary)), dtype=np.float32)
    for i, tokens in enumerate(token_lists):
        hits = [column[token] for token in tokens if token in column]
        matrix[i, hits] = 1.0
    return matrix


def find_images(image_dir: Path, paths: Sequence[Path]) -> list[str] | None:
    """The image ``paths`` (inside ``image_dir``) as strings, or ``None`` with a warning if ``image_dir`` is absent.

    When the folder is missing the builder can still build the text/label side; the warning names the
    folder. When the folder exists, every listed image must be there (``FileNotFoundError`` otherwise).

    Example:
        >>> find_images(Path("/nonexistent/images"), [Path("/nonexistent/images/im1.jpg")]) is None
        True
    """
    if not image_dir.is_dir():
        logger.warning(
            "Images folder %s not found: building the text/label side only, without the `image` column.", image_dir
        )
        return None
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of {len(paths)} images are missing under {image_dir}, e.g. {missing[0]}."
        )
    return [str(path) for path in paths]


def _fixed_width_column(matrix: np.ndarray) -> pa.FixedSizeListArray:
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), matrix.shape[1])


def assemble(
    *,
    label_names: Sequence[str],
    labels: np.ndarray,
    description: str,
    text: Sequence[str] | None = None,
    text_features: np.ndarray | None = None,
    image_features: np.ndarray | None = None,
    image_paths: Sequence[str] | None = None,
    missing_image_dir: Path | None = None,
    vocabulary: Sequence[str] | None = None,
    extra_report: dict[str, Any] | None = None,
    fixed_splits: dict[str, SplitIndices] | None = None,
) -> BuiltDataset:
    """Put a builder's columns into the schema of ``docs/data.md`` and measure the build report.

    Args:
        label_names: the label names, one per column of ``labels``.
        labels: multi-hot matrix (items x labels); stored as ``List(ClassLabel)`` positive indices.
        description: what the dataset is and which choices the builder made (``info.description``).
        text, text_features, image_features, image_paths: the columns the dataset has, one row per item.
        missing_image_dir: the images folder the source lacked; flagged in ``info.description``.
        vocabulary: the words of ``text_features``' columns (for a bag of words).
        extra_report: builder-specific counts added to the report.
        fixed_splits: split protocols defined by the source itself.

    The report holds ``num_rows``, ``num_labels``, ``label_counts`` (positives per label), ``has_images``,
    and for a ``text_features`` column its width, ``num_empty_text_features`` and ``empty_text_features``
    (the row indices whose bag of words is all zeros).
    """
    labels = np.asarray(labels)
    num_rows = labels.shape[0]
    if labels.ndim != 2 or labels.shape[1] != len(label_names):
        raise ValueError(f"labels has shape {labels.shape}; expected (items, {len(label_names)}).")
    columns: dict[str, Any] = {}
    features: dict[str, datasets.features.features.FeatureType] = {}
    if image_paths is not None:
        columns["image"] = list(image_paths)
        features["image"] = datasets.Image()
    if image_features is not None:
        columns["image_features"] = _fixed_width_column(image_features)
        features["image_features"] = datasets.List(datasets.Value("float32"), length=image_features.shape[1])
    if text is not None:
        columns["text"] = list(text)
        features["text"] = datasets.Value("string")
    if text_features is not None:
        columns["text_features"] = _fixed_width_column(text_features)
        features["text_features"] = datasets.List(datasets.Value("float32"), length=text_features.shape[1])
    columns["labels"] = [np.flatnonzero(row).tolist() for row in labels]
    features["labels"] = datasets.List(datasets.ClassLabel(names=list(label_names)))
    for name, values in columns.items():
        if len(values) != num_rows:
            raise ValueError(f"Column {name!r} has {len(values)} rows; labels have {num_rows}.")

    if missing_image_dir is not None:
        description += (
            f" NO IMAGES: the images folder {missing_image_dir} was not found, so this build has no `image` "
            "column and holds only the text/label side, for inspection."
        )
    schema = datasets.Features(features)
    dataset = datasets.Dataset.from_dict(
        columns, features=schema, info=datasets.DatasetInfo(description=description, features=schema)
    )
    report: dict[str, Any] = {
        "num_rows": num_rows,
        "num_labels": len(label_names),
        "label_counts": labels.sum(axis=0, dtype=np.int64).tolist(),
        "has_images": image_paths is not None,
    }
    if text_features is not None:
        empty = np.flatnonzero(~text_features.any(axis=1)).tolist()
        report.update(text_features_width=int(text_features.shape[1]), num_empty_text_features=len(empty),
                      empty_text_features=empty)
        if empty:
            logger.info("%d of %d items have an all-zero `text_features` row.", len(empty), num_rows)
    report.update(extra_report or {})
    return BuiltDataset(
        dataset=dataset,
        label_names=list(label_names),
        vocabulary=list(vocabulary) if vocabulary is not None else None,
        report=report,
        fixed_splits=dict(fixed_splits or {}),
    )


def build_tagged_dataset(
    source: Path,
    *,
    files: tuple[str, str, str],
    vocabulary: Sequence[str],
    label_names: Sequence[str],
    description: str,
) -> BuiltDataset:
    """Build a dataset of Flickr-tagged images from aligned per-item files, as MIRFlickr and NUS-WIDE ship them.

    ``files`` names, inside ``source``, the image list (paths relative to ``source``), the 0/1 label matrix and
    the space-separated tags, row ``i`` of each being item ``i``. ``text`` is the tags joined by single spaces,
    ``text_features`` their binary bag of words over ``vocabulary``; the images are looked up in
    ``<source>/images`` (absent: a warning and no ``image`` column).

    Example:
        >>> import tempfile
        >>> src = Path(tempfile.mkdtemp())
        >>> _ = (src / "img.txt").write_text("images/a.jpg\\n")
        >>> _ = (src / "labels.txt").write_text("0 1\\n")
        >>> _ = (src / "tags.txt").write_text("sky  sea\\n")
        >>> built = build_tagged_dataset(src, files=("img.txt", "labels.txt", "tags.txt"), vocabulary=["sea"],
        ...                              label_names=["a", "b"], description="toy")
        >>> built.dataset[0]
        {'text': 'sky sea', 'text_features': [1.0], 'labels': [1]}
    """
    image_file, label_file, tag_file = files
    image_paths = read_lines(source / image_file, "the image list")
    labels = read_binary_matrix(source / label_file, len(label_names), "the label file")
    tag_lines = read_lines(source / tag_file, "the tag file")
    if not len(image_paths) == len(labels) == len(tag_lines):
        raise ValueError(
            f"{source}: {image_file}, {label_file} and {tag_file} have {len(image_paths)}, {len(labels)} and "
            f"{len(tag_lines)} rows; they must be aligned row by row."
        )
    tokens = [line.split() for line in tag_lines]
    image_dir = source / "images"
    images = find_images(image_dir, [source / path for path in image_paths])
    return assemble(
        label_names=label_names,
        labels=labels,
        text=[" ".join(item) for item in tokens],
        text_features=bag_of_words(tokens, vocabulary),
        vocabulary=vocabulary,
        image_paths=images,
        missing_image_dir=None if images is not None else image_dir,
        description=description,
    )
