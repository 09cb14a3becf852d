"""Rows that cannot be used (an empty caption, a picture that cannot be decoded, no labels): found, left out, listed.

By default the first such row stops ``cmhash train`` / ``cmhash index`` with one error naming the dataset row and
`SKIP_REMEDY` (what to do). With ``--skip-bad-rows`` (the ``skip_bad_rows`` field of `HashTrainingArguments`
and of `IndexArguments`) they are left out instead and the command goes on with the other rows; at the end the
rows left out are printed (`format_skipped_rows`) and recorded as ``skipped_rows.json`` (`write_skipped_rows`):
in the run folder for training, in the collection folder for indexing.

Training finds its bad rows in one pass over the training rows before the first step (`find_bad_rows`) rather
than dropping them from batches as they come: the training set is then fixed before anything depends on it, so
batches, sample indices and per-item state are those of a dataset without those rows, and ``--resume`` (which
reads the recorded list back, `read_skipped_rows`) continues bit-identically. The pass decodes every training
picture once (about the cost of one epoch's picture decoding).

Example:
    >>> from cmhash_hf.data import load_cross_modal_dataset
    >>> data = load_cross_modal_dataset("builtin:shapes", num_items=6)
    >>> data.dataset = data.dataset.map(lambda row, i: {"text": " " if i == 2 else row["text"],
    ...                                                 "labels": [] if i == 4 else row["labels"]}, with_indices=True)
    >>> bad = find_bad_rows(data, [0, 2, 3, 4], need_labels=True)
    >>> [(item.row, item.reason) for item in bad]
    [(2, 'empty caption'), (4, 'no labels')]
    >>> print(format_skipped_rows(bad, limit=1))
      row 2: empty caption
      ... and 1 more
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..file_utils import atomic_write_text
from .loading import CrossModalDataset

__all__ = ["FIX_ROW", "SKIPPED_ROWS_FILE", "SKIP_REMEDY", "SkippedRow", "caption_problem", "find_bad_rows",
           "format_skipped_rows", "picture_problem", "read_skipped_rows", "rows_without_labels",
           "write_skipped_rows"]

SKIPPED_ROWS_FILE = "skipped_rows.json"
#: What an error about one bad row tells the user to do, where the command has ``--skip-bad-rows`` ...
SKIP_REMEDY = "Fix or remove that row, or pass --skip-bad-rows to leave out such rows and go on with the rest."
#: ... and where it has not (``cmhash evaluate``), or the row passed the checks of ``--skip-bad-rows``.
FIX_ROW = "Fix or remove that row."
#: Rows listed by `format_skipped_rows` before "... and N more".
SHOWN_ROWS = 20


@dataclass(frozen=True)
class SkippedRow:
    """One item left out: its dataset ``row`` (or line number; None for a file) or its file ``path``, and why."""

    row: int | None
    reason: str
    path: str | None = None

    @property
    def what(self) -> str:
        return self.path if self.path is not None else f"row {self.row}"

    def __str__(self) -> str:
        return f"{self.what}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {key: value for key, value in (("row", self.row), ("path", self.path), ("reason", self.reason))
                if value is not None}

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> "SkippedRow":
        return cls(record.get("row"), str(record["reason"]), record.get("path"))


def caption_problem(text: Any) -> str | None:
    """Why a caption cannot be encoded (None, or only white space), or None when it can; feature vectors pass.

    Example:
        >>> caption_problem("  "), caption_problem(None), caption_problem("a red circle"), caption_problem([0.5])
        ('empty caption', 'empty caption', None, None)
    """
    return "empty caption" if text is None or (isinstance(text, str) and not text.strip()) else None


def picture_problem(err: BaseException) -> str:
    """The reason recorded for a picture whose stored bytes could not be decoded (``err`` is the decoder's error),
    without the memory address PIL puts in it, so a record is the same in every run.

    Example:
        >>> picture_problem(OSError("cannot identify image file <_io.BytesIO object at 0x7f4a1d2909f0>"))
        'picture cannot be decoded: cannot identify image file'
    """
    return "picture cannot be decoded: " + re.sub(r"\s*<[\w.]+ object at 0x[0-9a-fA-F]+>", "", str(err))


def rows_without_labels(data: CrossModalDataset, rows: Sequence[int] | np.ndarray) -> np.ndarray:
    """The rows among ``rows`` (dataset row ids) that carry no label, in the order given.

    Example:
        >>> from cmhash_hf.data import load_cross_modal_dataset
        >>> rows_without_labels(load_cross_modal_dataset("builtin:shapes", num_items=4), [0, 1, 2]).tolist()
        []
    """
    rows = np.asarray(rows, dtype=np.int64)
    return rows[data.multi_hot(rows).sum(axis=1) == 0]


def find_bad_rows(data: CrossModalDataset, rows: Sequence[int] | np.ndarray, *, need_labels: bool = False,
                  progress: bool | None = None) -> list[SkippedRow]:
    """The rows among ``rows`` (dataset row ids) that training cannot use, in the order given.

    A row is bad when its caption is empty (datasets whose text side reads captions), its picture cannot be
    decoded (datasets with an ``image`` column; each picture is decoded once, as training decodes it) or, with
    ``need_labels``, it has no label. A row with
    several problems is listed once, its reasons joined by "; ".
    """
    rows = np.asarray(rows, dtype=np.int64)
    reasons: dict[int, list[str]] = {int(row): [] for row in rows}
    if data.has_raw_texts:
        for row, text in zip(rows.tolist(), data.dataset.select(rows)["text"]):
            problem = caption_problem(text)
            if problem:
                reasons[row].append(problem)
    if data.has_images:
        pictures = data.dataset.select_columns(["image"])
        for row in tqdm(rows.tolist(), desc="checking pictures", unit="row", disable=None if progress is None
                        else not progress, leave=False):
            try:
                pictures[row]
            except (OSError, ValueError) as err:
                reasons[row].append(picture_problem(err))
    if need_labels:
        for row in rows_without_labels(data, rows).tolist():
            reasons[row].append("no labels")
    return [SkippedRow(row, "; ".join(reasons[row])) for row in rows.tolist() if reasons[row]]


def format_skipped_rows(skipped: Sequence[Any], limit: int = SHOWN_ROWS) -> str:
    """One indented line per item left out (``row 12: empty caption``), the first ``limit`` of them, then
    ``... and N more``."""
    lines = [f"  {item}" for item in skipped[:limit]]
    if len(skipped) > limit:
        lines.append(f"  ... and {len(skipped) - limit} more")
    return "\n".join(lines)


def write_skipped_rows(folder: str | os.PathLike, skipped: Sequence[SkippedRow]) -> Path:
    """Record ``skipped`` as ``folder/skipped_rows.json`` (a JSON list of ``{"row", "reason"}``, or ``"path"`` for
    a file), written atomically; returns the file."""
    text = json.dumps([item.to_dict() for item in skipped], indent=2, ensure_ascii=False)
    return atomic_write_text(Path(folder) / SKIPPED_ROWS_FILE, text + "\n")


def read_skipped_rows(path: str | os.PathLike) -> list[SkippedRow]:
    """The list written by `write_skipped_rows`; a damaged file is a `ValueError` naming it.

    Example:
        >>> import tempfile
        >>> path = write_skipped_rows(tempfile.mkdtemp(), [SkippedRow(7, "no labels"), SkippedRow(None, "x", "a.png")])
        >>> json.loads(path.read_text())
        [{'row': 7, 'reason': 'no labels'}, {'path': 'a.png', 'reason': 'x'}]
        >>> read_skipped_rows(path) == [SkippedRow(7, "no labels"), SkippedRow(None, "x", "a.png")]
        True
    """
    try:
        return [SkippedRow.from_dict(record) for record in json.loads(Path(path).read_text(encoding="utf-8"))]
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as err:
        raise ValueError(f"{path} is not a list of skipped rows ({err}): it is damaged; delete it and train "
                         "again without --resume.") from None
