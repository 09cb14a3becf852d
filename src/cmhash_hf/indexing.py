"""Indexing any collection with a trained model, in a streaming, sharded, resumable pass: ``cmhash index``.

Sources (`open_source`): a split of a cross-modal dataset (``dataset`` + ``split``, the run's dataset by default),
a folder of pictures (``images``, no captions or labels needed), a text or JSON-lines file of captions (``texts``;
a ``.jsonl`` line is an object with ``text`` or ``caption`` and optionally ``labels``), or any Hub / local dataset
read with ``streaming=True`` (a `datasets.IterableDataset`; columns ``image`` and/or ``text`` / ``caption``, and
optionally ``labels``).

How it runs (`build_collection`):

* items are cut into shards of ``shard_size`` in input order; each shard is encoded in batches (pictures are read
  in ``num_workers`` DataLoader workers) with a progress bar counting items/s, and written as one Arrow file into
  ``.<output>.shards/`` beside the output folder;
* under ``accelerate launch`` (or ``torchrun``) process ``r`` of ``w`` encodes shards ``r, r + w, ...``; the main
  process then merges every shard in input order into the chosen backend and writes the collection folder (see
  `cmhash_hf.retrieval.collection`), switched into place in one step;
* a killed run started again with the same settings keeps the finished shards and encodes only the rest; other
  settings start over. The shards are deleted once the collection is written;
* a picture file that cannot be read is reported by path and left out; the others are indexed, and the count of
  left-out files comes with the result;
* a row of a dataset (or a line of a caption file) that cannot be used — an empty caption, a stored picture that
  cannot be decoded — stops the run with an error naming the row, or with ``skip_bad_rows``
  (``--skip-bad-rows``) is left out like an unreadable file. The items left out then get no code and no id: ids
  stay consecutive positions in the collection (the ``row`` column says which dataset row each item is), and
  the left-out ones are listed in ``skipped_rows.json`` in the collection folder
  (`cmhash_hf.data.bad_rows`). A shard records its left-out items, so a resumed run lists them too.

Item metadata (dataset row or file path, caption, label names) goes to the collection's ``items.arrow``, read
memory-mapped.

Example:
    >>> import tempfile, pathlib
    >>> from PIL import Image
    >>> from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
    >>> from cmhash_hf.encoders.presets import build_processor
    >>> photos = pathlib.Path(tempfile.mkdtemp())
    >>> for i, colour in enumerate(["red", "blue", "green"]):
    ...     Image.new("RGB", (20, 20), colour).save(photos / f"{i}-{colour}.png")
    >>> _ = (photos / "notes.txt").write_text("not a picture, not indexed")
    >>> _ = (photos / "broken.jpg").write_text("not a picture, reported")
    >>> processor = CrossModalHashProcessor.from_texts(["a red square"], text_mode="bow")
    >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=16,
    ...     text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    >>> report = build_collection(model, processor, open_source(images=photos), photos.parent / "photo-index",
    ...                           shard_size=2, progress=False)
    >>> report.indexed, [problem.split(":")[0] for problem in report.skipped]
    (3, ['broken.jpg'])
    >>> from cmhash_hf.retrieval.collection import Collection
    >>> [hit.path for hit in Collection.load(report.folder).search_images(model.encode(
    ...     images=[photos / "1-blue.png"], processor=processor), k=1)]
    ['1-blue.png']
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import datasets
import numpy as np
import pyarrow as pa
import torch
from accelerate import PartialState
from accelerate.utils import parse_flag_from_env
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from .data import load_cross_modal_dataset
from .data.bad_rows import SKIP_REMEDY, SkippedRow, caption_problem, picture_problem, write_skipped_rows
from .file_utils import atomic_write_bytes, atomic_write_text
from .processing import CrossModalHashProcessor, load_image
from .retrieval.collection import Collection, CollectionWriter
from .runs import INDEX_FOLDER, load_run, run_data

__all__ = [
    "IMAGE_SUFFIXES",
    "IndexArguments",
    "IndexReport",
    "Source",
    "build_collection",
    "index_run",
    "open_source",
    "process_state",
]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff")
SPLITS = ("query", "train", "database")
MANIFEST_FILE = "manifest.json"
SHARD_FORMAT = 2  # 2: left-out items recorded as {"row", "path", "reason"} records


# ---------------------------------------------------------------------------------------------- sources
class Source:
    """Items to index, in a fixed order. Sized sources (a dataset split, a folder, a file) read any item by
    position (so DataLoader workers can load pictures); a streaming source is read in order only.

    Each item is a dict: ``image`` (a picture, a file path or a feature vector; None when absent), ``text``
    (a caption or a text feature vector; None when absent), ``row`` (dataset row or line number, or None),
    ``path`` (file, relative to ``root``), ``labels`` (label names).
    """

    sides: tuple[str, ...] = ("image", "text")
    info: dict[str, Any]

    def __len__(self) -> int:
        raise TypeError(f"{type(self).__name__} has no known length (a streaming source)")

    @property
    def sized(self) -> bool:
        return True

    def item(self, position: int) -> dict[str, Any]:
        raise NotImplementedError

    def iterate(self, start: int = 0) -> Iterator[dict[str, Any]]:
        """Items from ``start`` on, in order."""
        for position in range(start, len(self)):
            yield self.item(position)

    def fingerprint(self) -> dict[str, Any]:
        """What identifies this source for resuming (equal fingerprints mean the same items in the same order)."""
        return {"info": self.info, "length": len(self) if self.sized else None}

    def describe(self, item: dict[str, Any]) -> str:
        """How an error names an item: its file, else its dataset row."""
        return item["path"] if item.get("path") else f"Dataset row {item['row']}"


class DatasetSplitSource(Source):
    """Rows of a `CrossModalDataset` (a protocol split of it, usually)."""

    def __init__(self, data: Any, rows: Sequence[int], info: dict[str, Any]) -> None:
        self.data = data
        self.rows = np.asarray(rows, dtype=np.int64)
        self.image_column = "image" if data.has_images else ("image_features" if data.image_feature_dim else None)
        text_column = "text" if data.has_texts else ("text_features" if data.text_feature_dim else None)
        self.text_column = text_column
        self.sides = tuple(side for side, column in (("image", self.image_column), ("text", text_column)) if column)
        self.info = info

    def __len__(self) -> int:
        return len(self.rows)

    def item(self, position: int) -> dict[str, Any]:
        row = int(self.rows[position])
        try:
            record = self.data.dataset[row]
        except (OSError, ValueError) as err:  # a stored picture that cannot be decoded
            return {"image": None, "text": None, "row": row, "path": None, "labels": [], "error": picture_problem(err)}
        labels = record.get("labels") or []
        if self.data.labels_are_indices:
            labels = [self.data.label_names[j] for j in labels]
        else:
            labels = [self.data.label_names[j] for j in np.flatnonzero(labels)]
        return {"image": record.get(self.image_column) if self.image_column else None,
                "text": record.get(self.text_column) if self.text_column else None,
                "row": row, "path": None, "labels": labels}


class ImageFolderSource(Source):
    """Every picture file under a folder (recursively, sorted by relative path); no captions or labels."""

    sides = ("image",)

    def __init__(self, folder: str | os.PathLike) -> None:
        self.root = Path(folder).absolute()
        if not self.root.is_dir():
            raise OSError(f"{folder} is not a folder of pictures (--images takes a folder)")
        self.paths = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                            if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                            and not any(part.startswith(".") for part in p.relative_to(self.root).parts))
        if not self.paths:
            raise ValueError(f"{folder} holds no picture files (looked for {', '.join(IMAGE_SUFFIXES)})")
        self.info = {"source": "images", "root": str(self.root)}

    def __len__(self) -> int:
        return len(self.paths)

    def item(self, position: int) -> dict[str, Any]:
        return {"image": str(self.root / self.paths[position]), "text": None, "row": None,
                "path": self.paths[position], "labels": []}

    def fingerprint(self) -> dict[str, Any]:
        digest = hashlib.sha256("\n".join(self.paths).encode()).hexdigest()
        return {"info": self.info, "length": len(self), "files": digest}


class TextFileSource(Source):
    """Captions from a text file (one per non-empty line) or a JSON-lines file (``text``/``caption``, ``labels``)."""

    sides = ("text",)

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path).absolute()
        if not path.is_file():
            raise OSError(f"No text file at {path} (--texts takes a .txt or .jsonl file)")
        self.entries: list[tuple[int, str, list[str]]] = []
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle):
                if not line.strip():
                    continue
                if path.suffix.lower() in (".jsonl", ".json"):
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise ValueError(f"{path}, line {number + 1}: not a JSON object ({err.msg})") from None
                    text = record.get("text", record.get("caption")) if isinstance(record, dict) else None
                    if not isinstance(text, str):
                        raise ValueError(f"{path}, line {number + 1}: needs a string 'text' (or 'caption') field")
                    self.entries.append((number, text, [str(x) for x in record.get("labels") or []]))
                else:
                    self.entries.append((number, line.rstrip("\n"), []))
        if not self.entries:
            raise ValueError(f"{path} holds no captions")
        self.info = {"source": "texts", "root": str(path.parent), "file": path.name}
        self.digest = hashlib.sha256(path.read_bytes()).hexdigest()

    def __len__(self) -> int:
        return len(self.entries)

    def item(self, position: int) -> dict[str, Any]:
        number, text, labels = self.entries[position]
        return {"image": None, "text": text, "row": number, "path": None, "labels": labels}

    def fingerprint(self) -> dict[str, Any]:
        return {"info": self.info, "length": len(self), "sha256": self.digest}

    def describe(self, item: dict[str, Any]) -> str:
        return f"Line {item['row'] + 1} of {self.info['file']}"


class StreamingSource(Source):
    """A Hub or local dataset read as a `datasets.IterableDataset`, in order (its length need not be known)."""

    def __init__(self, name: str, split: str = "train", **load_kwargs: Any) -> None:
        try:
            self.stream = datasets.load_dataset(name, split=split, streaming=True, **load_kwargs)
        except (FileNotFoundError, ValueError) as err:
            raise OSError(f"Cannot stream dataset {name!r} (split {split!r}): {err}") from None
        features = self.stream.features or {}
        columns = list(features) if features else list(next(iter(self.stream)).keys())
        self.text_column = next((c for c in ("text", "caption") if c in columns), None)
        self.image_column = "image" if "image" in columns else None
        self.sides = tuple(side for side, column in (("image", self.image_column), ("text", self.text_column)) if column)
        if not self.sides:
            raise ValueError(f"Dataset {name!r} has no 'image', 'text' or 'caption' column to index (columns: {columns})")
        label_feature = features.get("labels") if features else None
        inner = getattr(label_feature, "feature", None)
        self.label_names = getattr(inner, "names", None) or getattr(label_feature, "names", None)
        self.info = {"source": "streaming", "dataset": name, "split": split}

    @property
    def sized(self) -> bool:
        return False

    def iterate(self, start: int = 0) -> Iterator[dict[str, Any]]:
        stream = self.stream.skip(start) if start else self.stream
        for offset, record in enumerate(stream):
            labels = record.get("labels") or []
            if not isinstance(labels, (list, tuple)):
                labels = [labels]
            names = [self.label_names[j] if self.label_names and isinstance(j, int) else str(j) for j in labels]
            yield {"image": record.get(self.image_column) if self.image_column else None,
                   "text": record.get(self.text_column) if self.text_column else None,
                   "row": start + offset, "path": None, "labels": names}


def open_source(
    *,
    images: str | os.PathLike | None = None,
    texts: str | os.PathLike | None = None,
    dataset: str | None = None,
    split: str = "database",
    streaming: bool = False,
    run_dir: str | os.PathLike | None = None,
    training_args: dict[str, Any] | None = None,
) -> Source:
    """The source that the options name: exactly one of ``images``, ``texts``, ``dataset`` with ``streaming``, or
    a dataset split (``dataset``, default the run's training dataset, and ``split`` of the run's protocol).

    Raises:
        ValueError: more than one source, or none.
    """
    given = [name for name, value in (("images", images), ("texts", texts)) if value is not None]
    if streaming and dataset is None:
        raise ValueError("--streaming needs --dataset (a Hub id or a local dataset)")
    if len(given) + bool(streaming) > 1 or (given and dataset is not None):
        raise ValueError("Give one source: --images DIR, --texts FILE, --dataset NAME --streaming, "
                         "or a split of a dataset (--dataset NAME --split SPLIT)")
    if images is not None:
        return ImageFolderSource(images)
    if texts is not None:
        return TextFileSource(texts)
    if streaming:
        return StreamingSource(dataset, split="train" if split in SPLITS else split)
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if run_dir is None and dataset is None:
        raise ValueError("Nothing to index: give --images, --texts or --dataset")
    chosen = run_data(run_dir or ".", training_args or {}, dataset)
    rows = getattr(chosen.split, split)
    info = {"source": "dataset", "dataset": chosen.name, "dataset_kwargs": chosen.kwargs, "split": split,
            "protocol": chosen.protocol, "split_seed": chosen.split_seed}
    return DatasetSplitSource(chosen.data, rows, info)


def process_state() -> PartialState:
    """This process's place among the processes of an ``accelerate launch`` / ``torchrun``.

    ``ACCELERATE_USE_CPU`` is read as `accelerate.Accelerator` reads it: without it, the first `PartialState` of a
    CPU-only ``torchrun`` decides on a single process, and every process would think it is the main one.
    """
    return PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU"))


# ---------------------------------------------------------------------------------------------- encoding
class _ShardItems(Dataset):
    """Items ``start .. stop`` of a sized source, pictures opened (in DataLoader workers when there are any)."""

    def __init__(self, source: Source, start: int, stop: int) -> None:
        self.source, self.start, self.stop = source, start, stop

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> dict[str, Any]:
        return _opened(self.source.item(self.start + index), self.start + index)


def _opened(item: dict[str, Any], position: int) -> dict[str, Any]:
    """The item with its picture file opened; an unreadable one gets ``error`` (the reason) instead."""
    image = item.get("image")
    if isinstance(image, (str, os.PathLike)):
        try:
            item = {**item, "image": load_image(image, position)}
        except (OSError, ValueError) as err:
            return {**item, "image": None, "path": item.get("path") or str(image), "error": str(err)}
    return item


def _problem(item: dict[str, Any], sides: Sequence[str]) -> str | None:
    """Why an item cannot be encoded (its ``error``, an empty caption), or None."""
    return item.get("error") or (caption_problem(item["text"]) if "text" in sides else None)


def _collate(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return items


def _encode_batch(model: Any, processor: CrossModalHashProcessor, sides: Sequence[str],
                  items: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Codes of each side of a batch of (readable) items."""
    codes = {}
    with torch.inference_mode():
        if "image" in sides:
            pictures = [item["image"] for item in items]
            key = processor.side("image").argument
            codes["image"] = model.encode_image(**processor(**{key: pictures}, return_tensors="pt")).cpu().numpy()
        if "text" in sides:
            texts = [item["text"] for item in items]
            key = processor.side("text").argument
            codes["text"] = model.encode_text(**processor(**{key: texts}, return_tensors="pt")).cpu().numpy()
    return codes


_SHARD_SCHEMA = pa.schema([
    pa.field("image_code", pa.binary()),
    pa.field("text_code", pa.binary()),
    pa.field("row", pa.int64()),
    pa.field("path", pa.string()),
    pa.field("text", pa.string()),
    pa.field("labels", pa.list_(pa.string())),
])


def _write_shard(path: Path, sides: Sequence[str], items: list[dict[str, Any]], codes: dict[str, list[np.ndarray]],
                 skipped: list[SkippedRow]) -> None:
    """One finished shard as an Arrow file (packed codes + metadata; left-out files in the schema metadata)."""
    def packed(side: str) -> list[bytes | None]:
        if side not in sides or not items:
            return [None] * len(items)
        return [row.tobytes() for row in np.packbits(np.concatenate(codes[side]) > 0, axis=1)]

    table = pa.table({
        "image_code": pa.array(packed("image"), pa.binary()),
        "text_code": pa.array(packed("text"), pa.binary()),
        "row": pa.array([-1 if item["row"] is None else int(item["row"]) for item in items], pa.int64()),
        "path": pa.array([item["path"] for item in items], pa.string()),
        "text": pa.array([item["text"] if isinstance(item["text"], str) else None for item in items], pa.string()),
        "labels": pa.array([list(item["labels"]) for item in items], pa.list_(pa.string())),
    }, schema=_SHARD_SCHEMA).replace_schema_metadata({"skipped": json.dumps([item.to_dict() for item in skipped])})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    atomic_write_bytes(path, sink.getvalue().to_pybytes())


def _read_shard(path: Path, bits: int) -> tuple[pa.Table, dict[str, np.ndarray], list[SkippedRow]]:
    with pa.memory_map(str(path), "r") as handle:
        table = pa.ipc.open_file(handle).read_all()
    nbytes = (bits + 7) // 8
    codes = {}
    for side in ("image", "text"):
        column = table.column(f"{side}_code")
        if table.num_rows and column.null_count == 0:
            flat = np.frombuffer(b"".join(column.to_pylist()), dtype=np.uint8)
            codes[side] = flat.reshape(table.num_rows, nbytes)
        elif not table.num_rows:
            codes[side] = np.zeros((0, nbytes), dtype=np.uint8)
    skipped = json.loads((table.schema.metadata or {}).get(b"skipped", b"[]"))
    return table, codes, [SkippedRow.from_dict(record) for record in skipped]


@dataclass
class IndexReport:
    """What `build_collection` did: the folder, items indexed, items left out (each ``path: reason`` for a file,
    ``row N: reason`` for a dataset row), shards encoded now and shards kept from an earlier, interrupted run."""

    folder: Path
    indexed: int
    skipped: list[str] = field(default_factory=list)
    shards_encoded: int = 0
    shards_resumed: int = 0


def _shard_name(number: int) -> str:
    return f"shard-{number:06d}.arrow"


def _prepare_shards(folder: Path, manifest: dict[str, Any], state: PartialState) -> None:
    """Keep the shards of an interrupted run with the same manifest; otherwise start an empty shard folder."""
    if state.is_main_process:
        saved = folder / MANIFEST_FILE
        same = saved.is_file() and json.loads(saved.read_text()) == manifest
        if not same:
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            atomic_write_text(saved, json.dumps(manifest, indent=2, sort_keys=True))
    state.wait_for_everyone()


def build_collection(
    model: Any,
    processor: CrossModalHashProcessor,
    source: Source,
    output: str | os.PathLike,
    *,
    backend: str = "exact",
    uri: str | None = None,
    kind: str | None = None,
    options: dict[str, Any] | None = None,
    table_prefix: str = "",
    overwrite: bool = False,
    batch_size: int = 64,
    num_workers: int = 0,
    shard_size: int = 10_000,
    progress: bool | None = None,
    info: dict[str, Any] | None = None,
    skip_bad_rows: bool = False,
) -> IndexReport:
    """Encode every item of ``source`` with ``model`` and write a collection folder at ``output`` (see the module
    docstring); every process of an ``accelerate launch`` calls it, and all get the report.

    Raises:
        ValueError: bad settings, a row that cannot be used (without ``skip_bad_rows``), or no item of the
            source could be read.
    """
    for name, value in (("batch_size", batch_size), ("shard_size", shard_size)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be a non-negative integer, got {num_workers!r}")
    output = Path(output)
    bits = int(model.config.hash_bits)
    state = process_state()
    shards = output.parent / f".{output.name}.shards"
    manifest = {"source": source.fingerprint(), "sides": list(source.sides), "bits": bits, "shard_size": shard_size,
                "model": getattr(model, "name_or_path", "") or "", "method": model.config.model_type,
                "weights": _weights_digest(model), "shard_format": SHARD_FORMAT, "skip_bad_rows": skip_bad_rows}
    _prepare_shards(shards, manifest, state)
    total = len(source) if source.sized else None
    count = math.ceil(total / shard_size) if total is not None else None
    mine = range(state.process_index, count, state.num_processes) if count is not None else None
    disable = True if not state.is_local_main_process else (None if progress is None else not progress)
    bar = tqdm(total=total, unit="item", desc="indexing", disable=disable)
    encoded = resumed = 0
    model.eval()
    if source.sized:
        for number in mine:
            start, stop = number * shard_size, min(total, (number + 1) * shard_size)
            if (shards / _shard_name(number)).is_file():
                resumed += 1
                bar.update(stop - start)
                continue
            loader = DataLoader(_ShardItems(source, start, stop), batch_size=batch_size, num_workers=num_workers,
                                collate_fn=_collate)
            _encode_shard(model, processor, source, loader, shards / _shard_name(number), bar, skip_bad_rows)
            encoded += 1
    else:
        number = -1
        stream = source.iterate()
        while True:
            number += 1
            chunk = list(itertools.islice(stream, shard_size))
            if not chunk:
                break
            if number % state.num_processes != state.process_index:
                continue
            if (shards / _shard_name(number)).is_file():
                resumed += 1
                bar.update(len(chunk))
                continue
            batches = (list(map(_opened, chunk[i : i + batch_size], itertools.count(i)))
                       for i in range(0, len(chunk), batch_size))
            _encode_shard(model, processor, source, batches, shards / _shard_name(number), bar, skip_bad_rows)
            encoded += 1
        count = number
    bar.close()
    state.wait_for_everyone()
    folder, indexed, skipped = output, 0, []
    if state.is_main_process:
        indexed, skipped = _merge(shards, count, bits, source, output, backend=backend, uri=uri, kind=kind,
                                  options=options, table_prefix=table_prefix, overwrite=overwrite,
                                  info={"method": model.config.model_type, **source.info, **(info or {})},
                                  record_skipped=skip_bad_rows)
    state.wait_for_everyone()
    if not state.is_main_process:
        indexed = len(Collection.load(folder))
    return IndexReport(folder, indexed, [str(item) for item in skipped], encoded, resumed)


def _weights_digest(model: Any) -> str:
    """A short digest of the model's weights (a resumed run must encode with the same model)."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1)[:64].float().numpy().tobytes())
    return digest.hexdigest()[:16]


def _encode_shard(model: Any, processor: CrossModalHashProcessor, source: Source, batches: Any, path: Path,
                  bar: Any, skip_bad_rows: bool) -> None:
    """Encode one shard's batches and write the shard. Unreadable files are left out; a row that cannot be used
    is left out with ``skip_bad_rows``, else it stops the run with an error naming it."""
    sides = source.sides
    items: list[dict[str, Any]] = []
    codes: dict[str, list[np.ndarray]] = {side: [] for side in sides}
    skipped: list[SkippedRow] = []
    for batch in batches:
        readable = []
        for item in batch:
            problem = _problem(item, sides)
            if problem is None:
                readable.append(item)
            elif item.get("path") or skip_bad_rows:
                skipped.append(SkippedRow(item.get("row"), problem, item.get("path")))
            else:
                raise ValueError(f"{source.describe(item)} cannot be indexed: {problem}. {SKIP_REMEDY}")
        if readable:
            for side, values in _encode_batch(model, processor, sides, readable).items():
                codes[side].append(values)
            items.extend(readable)
        bar.update(len(batch))
    _write_shard(path, sides, items, codes, skipped)


def _merge(shards: Path, count: int, bits: int, source: Source, output: Path, *, info: dict[str, Any],
           record_skipped: bool, **backend: Any) -> tuple[int, list[SkippedRow]]:
    """Write every shard, in input order, into one collection (with ``record_skipped``, plus the list of items
    left out as ``skipped_rows.json``); remove the shards afterwards."""
    writer = CollectionWriter(output, bits, sides=source.sides, info=info, **backend)
    skipped: list[SkippedRow] = []
    try:
        for number in range(count):
            table, codes, left_out = _read_shard(shards / _shard_name(number), bits)
            skipped.extend(left_out)
            if not table.num_rows:
                continue
            columns = table.to_pydict()
            writer.add(codes.get("image") if "image" in source.sides else None,
                       codes.get("text") if "text" in source.sides else None,
                       rows=[None if r < 0 else r for r in columns["row"]], paths=columns["path"],
                       texts=columns["text"], labels=columns["labels"])
        if writer.count == 0:
            raise ValueError(f"No item could be indexed: {len(skipped)} unreadable "
                             f"({'; '.join(map(str, skipped[:3]))})")
        if record_skipped:
            write_skipped_rows(writer.staging, skipped)
    except BaseException:
        writer.abort()
        raise
    writer.info["skipped"] = len(skipped)
    indexed = writer.count
    writer.finish()
    shutil.rmtree(shards, ignore_errors=True)
    return indexed, skipped


def index_run(
    run_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    dataset: str | None = None,
    split: str = "database",
    images: str | os.PathLike | None = None,
    texts: str | os.PathLike | None = None,
    streaming: bool = False,
    **settings: Any,
) -> IndexReport:
    """Index a source (see `open_source`; default: the ``split`` of the run's dataset) with a trained run's model
    into a collection folder at ``output``; ``settings`` go to `build_collection`.

    Example:
        >>> import tempfile
        >>> from cmhash_hf.retrieval.collection import Collection
        >>> from cmhash_hf.training import HashTrainingArguments, train
        >>> run_dir = tempfile.mkdtemp()
        >>> _ = train(HashTrainingArguments(method="dcmh", output_dir=run_dir, bits=16, epochs=1,
        ...                                 dataset_kwargs={"num_items": 2400}, max_train_samples=32))
        ... # doctest: +ELLIPSIS
        epoch 1/1 done: ...
        >>> report = index_run(run_dir, run_dir + "/index", split="query", backend="faiss", kind="flat", progress=False)
        >>> collection = Collection.load(report.folder)
        >>> len(collection), collection.backend, collection.info["split"]
        (400, 'faiss', 'query')
    """
    run = load_run(run_dir)
    source = open_source(images=images, texts=texts, dataset=dataset, split=split, streaming=streaming,
                         run_dir=run_dir, training_args=run.training_args)
    return build_collection(run.model, run.processor, source, output, **settings)


@dataclass
class IndexArguments:
    """Every setting of ``cmhash index`` (the command line is generated from these fields and their help)."""

    run_dir: str = field(metadata={"help": "trained run folder or Hub id", "positional": True})
    output: str | None = field(default=None, metadata={"help": "collection folder to write (default: RUN_DIR/index)"})
    dataset: str | None = field(default=None, metadata={
        "help": "dataset to index a split of (default: the run's), or to stream with --streaming (Hub id or folder)"})
    split: str = field(default="database", metadata={
        "help": "protocol split of the dataset (query, train, database); with --streaming the dataset's split name"})
    images: str | None = field(default=None, metadata={"help": "index a folder of pictures instead (no captions needed)"})
    texts: str | None = field(default=None, metadata={
        "help": "index a text file (one caption a line) or a JSON-lines file (text/caption, labels) instead"})
    streaming: bool = field(default=False, metadata={"help": "read --dataset as a streaming datasets.IterableDataset"})
    backend: str = field(default="exact", metadata={"help": "index backend: exact, faiss, milvus or lancedb"})
    uri: str | None = field(default=None, metadata={
        "help": "where the backend keeps the codes: a folder, a Milvus Lite .db file, http://host:19530, s3://bucket/path "
                "(default: inside the collection folder)"})
    kind: str | None = field(default=None, metadata={"help": "backend index kind: flat (exact), ivf or hnsw where offered"})
    option: list[str] = field(default_factory=list, metadata={
        "help": "backend option KEY=VALUE (repeatable), e.g. --option nprobe=32"})
    table_prefix: str = field(default="", metadata={"help": "prefix of the table names, to share one server among collections"})
    overwrite: bool = field(default=False, metadata={"help": "replace existing backend tables of the same names"})
    batch_size: int = field(default=64, metadata={"help": "items encoded per batch"})
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes that read pictures"})
    shard_size: int = field(default=10_000, metadata={
        "help": "items per shard: the unit of resuming and of sharing work among processes"})
    skip_bad_rows: bool = field(default=False, metadata={
        "help": "leave out dataset rows that cannot be used (empty caption, picture that cannot be decoded) instead "
                "of stopping at the first; they get no code, and are listed at the end and in skipped_rows.json in "
                "the collection folder"})
    progress: bool | None = field(default=None, metadata={"help": "progress bar (default: on a terminal)", "cli": False})

    def backend_options(self) -> dict[str, Any]:
        """``option`` as a dict, values read as JSON where they parse (``nprobe=32`` gives the int 32)."""
        options = {}
        for pair in self.option:
            if "=" not in pair:
                raise ValueError(f"--option takes KEY=VALUE, got {pair!r}")
            key, value = pair.split("=", 1)
            try:
                options[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                options[key.strip()] = value
        return options


def run_index(args: IndexArguments) -> IndexReport:
    """Run ``cmhash index`` with ``args``."""
    output = args.output or Path(args.run_dir) / INDEX_FOLDER
    return index_run(
        args.run_dir, output, dataset=args.dataset, split=args.split, images=args.images, texts=args.texts,
        streaming=args.streaming, backend=args.backend, uri=args.uri, kind=args.kind, options=args.backend_options(),
        table_prefix=args.table_prefix, overwrite=args.overwrite, batch_size=args.batch_size,
        num_workers=args.num_workers, shard_size=args.shard_size, progress=args.progress,
        skip_bad_rows=args.skip_bad_rows,
    )
