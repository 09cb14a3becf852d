"""`DatabaseIndex`: the saved codes of a dataset split, for `cmhash index`, `cmhash push --with-index` and the Space.

A database index is a folder of three files: ``image_codes.cmhash`` and ``text_codes.cmhash`` (`HammingIndex`
files whose ids are positions 0..n-1) and ``items.json`` (per position: the dataset row, caption and label
names; plus the method, bits, dataset and split it was built from). Pictures are not copied: they are read back
from the dataset by row. In a Hub repo the folder is ``index/``.

Example:
    >>> import numpy as np, tempfile
    >>> codes = np.array([[1, 1, -1, -1], [-1, -1, 1, 1]])
    >>> index = DatabaseIndex.from_codes(codes, codes, rows=[7, 9], texts=["a red circle", "a blue star"],
    ...                                  labels=[["red", "circle"], ["blue", "star"]], dataset="builtin:shapes")
    >>> [(hit.row, hit.distance, hit.text) for hit in index.search_texts(np.array([1, 1, -1, 1]), k=1)]
    [(7, 1, 'a red circle')]
    >>> DatabaseIndex.load(index.save(tempfile.mkdtemp())).num_database
    2
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from transformers.utils import cached_file

from ..file_utils import atomic_folder, atomic_write_text
from ..retrieval import HammingIndex, unpack_codes

INDEX_FOLDER = "index"
IMAGE_INDEX_FILE = "image_codes.cmhash"
TEXT_INDEX_FILE = "text_codes.cmhash"
ITEMS_FILE = "items.json"
INDEX_FILES = (IMAGE_INDEX_FILE, TEXT_INDEX_FILE, ITEMS_FILE)
FORMAT_VERSION = 1


@dataclass
class IndexHit:
    """One search result: its position in the index, Hamming distance, dataset row (None for an added
    picture), caption and label names."""

    position: int
    distance: int
    row: int | None
    text: str | None
    labels: list[str]


class DatabaseIndex:
    """Image and text codes of a database with what each item is; positions are shared by both indexes.

    Pictures added with `with_images` get positions after the database and live in the image index only.
    """

    def __init__(self, image_index: HammingIndex, text_index: HammingIndex, items: dict[str, Any]) -> None:
        if image_index.bits != text_index.bits:
            raise ValueError(f"The image codes have {image_index.bits} bits but the text codes {text_index.bits}.")
        if not len(items["rows"]) == len(items["texts"]) == len(items["labels"]) == len(image_index):
            raise ValueError("items.json does not describe every code of the image index.")
        self.image_index = image_index
        self.text_index = text_index
        self.items = items

    # ------------------------------------------------------------------ building
    @classmethod
    def from_codes(
        cls,
        image_codes: np.ndarray,
        text_codes: np.ndarray,
        *,
        rows: Sequence[int],
        texts: Sequence[str | None],
        labels: Sequence[Sequence[str]],
        dataset: str,
        dataset_kwargs: dict[str, Any] | None = None,
        split: str = "database",
        method: str | None = None,
    ) -> "DatabaseIndex":
        """An index of paired image and text codes (``(n, bits)`` in {-1, +1}) of dataset ``rows``."""
        image_codes, text_codes = np.asarray(image_codes), np.asarray(text_codes)
        if image_codes.shape != text_codes.shape or image_codes.ndim != 2:
            raise ValueError(f"Image codes {image_codes.shape} and text codes {text_codes.shape} must pair up (n, bits).")
        bits = image_codes.shape[1]
        image_index, text_index = HammingIndex(bits), HammingIndex(bits)
        positions = np.arange(len(image_codes), dtype=np.int64)
        image_index.add(image_codes, ids=positions)
        text_index.add(text_codes, ids=positions)
        items = {
            "format": FORMAT_VERSION,
            "method": method,
            "bits": bits,
            "dataset": dataset,
            "dataset_kwargs": dict(dataset_kwargs or {}),
            "split": split,
            "num_database": len(image_codes),
            "rows": [int(r) for r in rows],
            "texts": list(texts),
            "labels": [list(names) for names in labels],
        }
        return cls(image_index, text_index, items)

    @classmethod
    def from_run(cls, run_dir: str | Path, dataset: str | None = None, split: str = "database") -> "DatabaseIndex":
        """Encode the ``split`` part of ``dataset`` (default: the run's training dataset) with a trained run."""
        from ..search import RetrievalSession

        session = RetrievalSession.from_run(run_dir, dataset, split)
        args = session.run.training_args
        name = dataset or args.get("dataset")
        data, rows = session.data, session.database_rows
        names = [[data.label_names[j] for j in np.flatnonzero(hot)] for hot in data.multi_hot(rows)]
        bits = session.image_index.bits
        return cls.from_codes(
            unpack_codes(session.image_index.packed_codes(), bits),
            unpack_codes(session.text_index.packed_codes(), bits),
            rows=rows.tolist(),
            texts=data.texts(rows) if data.has_texts else [None] * len(rows),
            labels=names,
            dataset=name,
            dataset_kwargs=args.get("dataset_kwargs", {}) if name == args.get("dataset") else {},
            split=split,
            method=session.run.model.config.model_type,
        )

    # ------------------------------------------------------------------ saving and loading
    def save(self, folder: str | Path) -> Path:
        """Write the three index files into ``folder`` (created if needed); returns the folder.

        The new files are written into a folder beside ``folder`` and switched in with one rename
        (`cmhash_hf.file_utils.atomic_folder`): a failure part-way (disk full, a killed process) leaves the index
        already there untouched, never new image codes beside old text codes.

        Raises:
            ValueError: ``folder`` is a file, or a folder holding files that are not part of an index (they
                would be replaced with it).
        """
        folder = Path(folder)
        if folder.is_file():
            raise ValueError(f"{folder} is a file; an index is saved into a folder.")
        foreign = sorted(p.name for p in folder.iterdir() if p.name not in INDEX_FILES) if folder.is_dir() else []
        if foreign:
            raise ValueError(
                f"{folder} holds files that are not part of an index ({', '.join(foreign[:5])}): an index replaces "
                "its whole folder, so give an empty folder or one written by `cmhash index`."
            )
        database = slice(0, self.num_database)
        with atomic_folder(folder) as staging:
            self._sub_index(self.image_index, database).save(staging / IMAGE_INDEX_FILE)
            self.text_index.save(staging / TEXT_INDEX_FILE)
            items = {key: value[database] if isinstance(value, list) else value for key, value in self.items.items()}
            atomic_write_text(staging / ITEMS_FILE, json.dumps(items, ensure_ascii=False))
        return folder

    @classmethod
    def load(cls, folder_or_repo: str | Path, subfolder: str = "", **hub_kwargs: Any) -> "DatabaseIndex":
        """Read an index from a folder, or from the ``subfolder`` of a model folder or Hub repo (through its cache).

        Raises:
            OSError: one of the index files is missing there.
        """
        paths = {}
        for name in INDEX_FILES:
            try:
                paths[name] = cached_file(str(folder_or_repo), name, subfolder=subfolder, **hub_kwargs)
            except OSError:
                paths[name] = None
            if paths[name] is None:
                where = f"{folder_or_repo}/{subfolder}".rstrip("/")
                raise OSError(f"{where} holds no database index: {name} is missing (build one with `cmhash index`).")
        items = json.loads(Path(paths[ITEMS_FILE]).read_text(encoding="utf-8"))
        if items.get("format") != FORMAT_VERSION:
            raise ValueError(f"{paths[ITEMS_FILE]} is not a cmhash-hf index of format {FORMAT_VERSION}.")
        return cls(HammingIndex.load(paths[IMAGE_INDEX_FILE]), HammingIndex.load(paths[TEXT_INDEX_FILE]), items)

    # ------------------------------------------------------------------ searching
    @property
    def bits(self) -> int:
        return self.image_index.bits

    @property
    def num_database(self) -> int:
        """Items of the dataset split (pictures added with `with_images` not counted)."""
        return int(self.items["num_database"])

    @property
    def num_images(self) -> int:
        """Pictures that image searches can return (database + added)."""
        return len(self.image_index)

    def _hits(self, distances: np.ndarray, positions: np.ndarray) -> list[IndexHit]:
        rows, texts, labels = self.items["rows"], self.items["texts"], self.items["labels"]
        return [
            IndexHit(int(p), int(d), rows[p] if rows[p] >= 0 else None, texts[p], list(labels[p]))
            for d, p in zip(distances[0], positions[0])
        ]

    def search_images(self, codes: Any, k: int) -> list[IndexHit]:
        """The ``k`` pictures (database and added) nearest to one code, in (distance, position) order."""
        return self._hits(*self.image_index.search(codes, k))

    def search_texts(self, codes: Any, k: int) -> list[IndexHit]:
        """The ``k`` database texts nearest to one code, in (distance, position) order."""
        return self._hits(*self.text_index.search(codes, k))

    def with_images(self, codes: Any, names: Sequence[str]) -> "DatabaseIndex":
        """A copy whose image side also holds pictures with ``codes`` (no dataset row; ``names`` as captions).

        The text side and the original are shared / left as they are, so a per-user copy is cheap.
        """
        image_index = self._sub_index(self.image_index, slice(0, len(self.image_index)))
        start = len(image_index)
        image_index.add(codes, ids=np.arange(start, start + len(names), dtype=np.int64))
        items = dict(self.items)
        items["rows"] = items["rows"] + [-1] * len(names)
        items["texts"] = items["texts"] + list(names)
        items["labels"] = items["labels"] + [[] for _ in names]
        return DatabaseIndex(image_index, self.text_index, items)

    @staticmethod
    def _sub_index(index: HammingIndex, part: slice) -> HammingIndex:
        copy = HammingIndex(index.bits)
        copy.add(index.packed_codes()[part], ids=index.ids[part])
        return copy

    def __repr__(self) -> str:
        return (f"DatabaseIndex(dataset={self.items['dataset']!r}, split={self.items['split']!r}, bits={self.bits}, "
                f"database={self.num_database}, added={self.num_images - self.num_database})")
