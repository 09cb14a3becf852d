"""``Collection``: the codes of a collection in one index backend, with what each item is, searched by code.

A collection is what ``cmhash index`` writes and what ``cmhash search``, ``cmhash push --with-index`` and the
retrieval Space read. Its items are numbered 0, 1, 2, ... (the ids in the backend); each may have an image code
(searched by text → image and image → image) and a text code (image → text). A folder of three kinds of files:

* ``collection.json`` — format, code width, method, where the items come from (a dataset and split, a picture
  folder, a text file) and the backend spec: backend name, ``uri``, kind, options and the table of each side;
* ``items.arrow`` — one row per item (Arrow IPC file, opened memory-mapped, so a 10-million-item collection
  opens in about the time of reading its header): ``row`` (the dataset row, -1 when none), ``path`` (the
  file the item came from, relative to ``root`` in ``collection.json``), ``text`` (its caption) and
  ``labels`` (label names);
* the backend's own files when it keeps them here (``image_codes.cmhash`` and ``text_codes.cmhash`` for
  ``exact``, ``*.faiss``, a LanceDB folder, a Milvus Lite ``milvus.db``); a server backend (Milvus at
  ``http://...``, LanceDB on object storage) keeps the codes there instead and the folder holds the rest.

A ``uri`` inside the folder is stored relative to it, so the folder can be moved or uploaded to the Hub.
Pictures are not copied: they are read back from the dataset by row, or from their file.

Example:
    >>> import numpy as np, tempfile
    >>> codes = np.array([[1, 1, -1, -1], [-1, -1, 1, 1]])
    >>> folder = tempfile.mkdtemp() + "/shapes"
    >>> writer = CollectionWriter(folder, bits=4, info={"dataset": "builtin:shapes"})
    >>> writer.add(image_codes=codes, text_codes=codes, rows=[7, 9], texts=["a red circle", "a blue star"],
    ...            labels=[["red", "circle"], ["blue", "star"]])
    >>> collection = Collection.load(writer.finish())
    >>> [(hit.id, hit.row, hit.distance, hit.text) for hit in collection.search_texts(np.array([1, 1, -1, 1]), k=1)]
    [(0, 7, 1, 'a red circle')]
    >>> len(collection), collection.bits, collection.backend
    (2, 4, 'exact')
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from ..file_utils import atomic_folder, atomic_write_text, disk_errors
from .backends import CodeIndex, get_backend
from .index import HammingIndex

__all__ = ["COLLECTION_FILE", "ITEMS_FILE", "Collection", "CollectionWriter", "Hit", "default_uri"]

COLLECTION_FILE = "collection.json"
ITEMS_FILE = "items.arrow"
FORMAT_VERSION = 2
SIDES = ("image", "text")
ITEMS_SCHEMA = pa.schema([
    pa.field("row", pa.int64()),
    pa.field("path", pa.string()),
    pa.field("text", pa.string()),
    pa.field("labels", pa.list_(pa.string())),
])


@dataclass
class Hit:
    """One search result: the item's id (its position in the collection), its Hamming distance, the dataset row
    (``None`` when the item is not a dataset row), the file it came from, its caption and label names.
    ``added`` marks a picture added for one visitor (see `Collection.with_images`)."""

    id: int
    distance: int
    row: int | None
    path: str | None
    text: str | None
    labels: list[str] = field(default_factory=list)
    added: bool = False


def default_uri(backend: str) -> str:
    """Where a backend keeps codes inside the collection folder when no ``uri`` is given.

    Example:
        >>> default_uri("exact"), default_uri("milvus")
        ('.', 'milvus.db')
    """
    return "milvus.db" if backend == "milvus" else "."


def _is_remote(uri: str) -> bool:
    return "://" in uri or uri.startswith("unix:")


def _resolve(uri: str, folder: Path) -> str:
    """A stored uri made usable: remote ones as they are, relative paths against the collection folder."""
    return uri if _is_remote(uri) or os.path.isabs(uri) else str(folder / uri)


class CollectionWriter:
    """Writes a collection folder: create it, `add` items in batches (codes and what each item is), `finish`.

    The folder is written beside ``folder`` and switched into place in one step by `finish`
    (`cmhash_hf.file_utils.atomic_folder`): an earlier collection there stays as it was until then, and after any
    failure. A folder that holds files but no collection is refused (the switch would replace them). The backend
    tables are created now (``overwrite`` replaces existing ones).

    Args:
        folder: the collection folder to write.
        bits: code width.
        backend, uri, kind, options: the index backend (see `cmhash_hf.retrieval.backends`); ``uri`` defaults
            to the folder itself (a Milvus Lite file in it for ``milvus``).
        table_prefix: prefix of the two table names (``<prefix>image_codes``, ``<prefix>text_codes``) so that
            several collections can share one server.
        sides: which codes the items have: ``("image", "text")``, ``("image",)`` or ``("text",)``.
        info: what to record about the source (method, dataset, dataset_kwargs, split, source, root, ...).
    """

    def __init__(
        self,
        folder: str | os.PathLike,
        bits: int,
        *,
        backend: str = "exact",
        uri: str | None = None,
        kind: str | None = None,
        options: dict[str, Any] | None = None,
        table_prefix: str = "",
        sides: Sequence[str] = SIDES,
        info: dict[str, Any] | None = None,
        overwrite: bool = False,
    ) -> None:
        if not sides or any(side not in SIDES for side in sides):
            raise ValueError(f"sides must be a non-empty subset of {SIDES}, got {tuple(sides)!r}")
        self.folder = Path(folder)
        if self.folder.is_dir() and any(self.folder.iterdir()) and not (self.folder / COLLECTION_FILE).is_file():
            names = sorted(p.name for p in self.folder.iterdir())
            raise ValueError(
                f"{self.folder} holds files that are not part of a collection ({', '.join(names[:5])}): a collection "
                "replaces its whole folder, so give an empty folder or one written by `cmhash index`."
            )
        self._switch = atomic_folder(self.folder)
        self._scratch = self._switch.__enter__()
        self.bits = int(bits)
        if uri is None:
            self.stored_uri = default_uri(backend)
        elif _is_remote(str(uri)):
            self.stored_uri = str(uri)
        else:  # a local path: absolute, or relative to the collection folder when it lies inside it
            absolute = Path(uri).absolute()
            inside = absolute.is_relative_to(self.folder.absolute())
            self.stored_uri = str(absolute.relative_to(self.folder.absolute())) if inside else str(absolute)
        live_uri = _resolve(self.stored_uri, self._scratch)
        try:
            cls = get_backend(backend)
            self.indexes: dict[str, CodeIndex] = {
                side: cls.create(bits, live_uri, table=f"{table_prefix}{side}_codes", kind=kind, overwrite=overwrite,
                                 **(options or {}))
                for side in sides
            }
        except BaseException:
            self._switch.__exit__(*sys.exc_info())
            raise
        self.info = dict(info or {})
        self._items_path = self._scratch / ITEMS_FILE
        self._sink = pa.OSFile(str(self._items_path), "wb")
        self._items = pa.ipc.new_file(self._sink, ITEMS_SCHEMA)
        self.count = 0
        self._aborted = False

    @property
    def staging(self) -> Path:
        """The new folder being written; files a caller adds to it switch into place with the collection."""
        return self._scratch

    def add(
        self,
        image_codes: Any = None,
        text_codes: Any = None,
        *,
        rows: Sequence[int | None] | None = None,
        paths: Sequence[str | None] | None = None,
        texts: Sequence[str | None] | None = None,
        labels: Sequence[Sequence[str]] | None = None,
    ) -> None:
        """Append a batch of items: the codes of each side the collection has, and what is known of each item.

        An error (bad input, a full disk, a backend failure) abandons the writer: the new folder is removed and a
        collection already at ``folder`` stays as it was.
        """
        try:
            with disk_errors(self.folder):
                self._add(image_codes, text_codes, rows, paths, texts, labels)
        except BaseException:
            self.abort()
            raise

    def _add(self, image_codes: Any, text_codes: Any, rows: Any, paths: Any, texts: Any, labels: Any) -> None:
        given = {"image": image_codes, "text": text_codes}
        counts = {side: len(given[side]) for side in self.indexes if given[side] is not None}
        missing = [side for side in self.indexes if given[side] is None]
        if missing:
            raise ValueError(f"This collection holds {', '.join(self.indexes)} codes: pass {missing[0]}_codes too")
        n = next(iter(counts.values()))
        if any(count != n for count in counts.values()):
            raise ValueError(f"Image and text codes of one batch must pair up, got {counts}")
        for name, column in (("rows", rows), ("paths", paths), ("texts", texts), ("labels", labels)):
            if column is not None and len(column) != n:
                raise ValueError(f"{name} has {len(column)} entries for {n} codes")
        ids = np.arange(self.count, self.count + n, dtype=np.int64)
        for side, index in self.indexes.items():
            index.add(given[side], ids=ids)
        batch = pa.record_batch(
            [
                pa.array([-1 if r is None else int(r) for r in rows] if rows is not None else np.full(n, -1), pa.int64()),
                pa.array(list(paths) if paths is not None else [None] * n, pa.string()),
                pa.array(list(texts) if texts is not None else [None] * n, pa.string()),
                pa.array([list(x) for x in labels] if labels is not None else [[]] * n, pa.list_(pa.string())),
            ],
            schema=ITEMS_SCHEMA,
        )
        self._items.write_batch(batch)
        self.count += n

    def finish(self) -> Path:
        """Save the backend tables, write ``collection.json`` and switch the folder into place; returns it."""
        try:
            self._items.close()
            self._sink.close()
            first = next(iter(self.indexes.values()))
            for index in self.indexes.values():
                index.save()
                index.close()
            spec = {key: value for key, value in first.spec().items() if key not in ("uri", "table")}
            header = {
                "format": FORMAT_VERSION,
                "bits": self.bits,
                "num_items": self.count,
                **self.info,
                "index": {**spec, "uri": self.stored_uri, "tables": {side: ix.table for side, ix in self.indexes.items()}},
            }
            atomic_write_text(self._scratch / COLLECTION_FILE, json.dumps(header, indent=2, ensure_ascii=False))
        except BaseException:
            for index in self.indexes.values():
                index.close()
            if not self._switch.__exit__(*sys.exc_info()):  # removes the new folder; a full disk names the target
                raise
        self._switch.__exit__(None, None, None)
        return self.folder

    def abort(self) -> None:
        """Stop writing and delete the new folder (the previous collection, if any, stays)."""
        if self._aborted:
            return
        self._aborted = True
        for closing in (self._items.close, self._sink.close, *(index.close for index in self.indexes.values())):
            try:
                closing()
            except Exception:  # noqa: BLE001 - closing a half-written file on a full disk may fail again
                pass
        try:
            self._switch.__exit__(RuntimeError, RuntimeError("aborted"), None)
        except RuntimeError:
            pass


class Collection:
    """A saved collection opened for search (see the module docstring).

    ``search_images`` / ``search_texts`` take one code (or a ``(1, bits)`` row) and return `Hit` lists in
    (distance, id) order. `with_images` gives a visitor's view with pictures of their own added (kept in
    process, never written to the backend).
    """

    def __init__(self, info: dict[str, Any], items: pa.Table, indexes: dict[str, CodeIndex],
                 folder: Path | None = None, added: tuple[HammingIndex, list[str]] | None = None) -> None:
        self.info = info
        self.items = items
        self.indexes = indexes
        self.folder = folder
        self._added = added

    @classmethod
    def load(cls, folder: str | os.PathLike, *, uri: str | None = None, **options: Any) -> "Collection":
        """Open a collection folder; ``uri`` (and backend ``options``) override the stored ones, e.g. to reach
        the same tables on another server address.

        Raises:
            OSError: the folder holds no collection, or the backend cannot be reached.
            ValueError: the folder's format is not this library's, or a table's code width does not match.
        """
        folder = Path(folder)
        header_path = folder / COLLECTION_FILE
        if not header_path.is_file():
            raise OSError(f"{folder} holds no collection: {COLLECTION_FILE} is missing (build one with `cmhash index`)")
        try:
            info = json.loads(header_path.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as err:
            raise ValueError(f"{header_path} is not valid JSON ({err}): the collection is damaged; rebuild it with "
                             "`cmhash index`") from None
        if not isinstance(info, dict) or info.get("format") != FORMAT_VERSION:
            raise ValueError(f"{header_path} is not a cmhash-hf collection of format {FORMAT_VERSION}; rebuild it with `cmhash index`")
        spec = dict(info["index"])
        backend, tables = spec.pop("backend"), spec.pop("tables")
        stored_uri = spec.pop("uri")
        spec.pop("kind", None)
        live_uri = uri or _resolve(stored_uri, folder)
        cls_backend = get_backend(backend)
        indexes = {side: cls_backend.open(live_uri, table=table, bits=int(info["bits"]), **{**spec, **options})
                   for side, table in tables.items()}
        try:
            with pa.memory_map(str(folder / ITEMS_FILE), "r") as source:
                items = pa.ipc.open_file(source).read_all()
        except (pa.ArrowException, OSError) as err:
            raise ValueError(f"{folder / ITEMS_FILE} cannot be read ({err}): the collection is damaged; rebuild it "
                             "with `cmhash index`") from None
        for side, index in indexes.items():
            if len(index) != items.num_rows:
                raise ValueError(f"{folder}: the {side} table ({index.uri}, {index.table}) holds {len(index)} codes but "
                                 f"{ITEMS_FILE} describes {items.num_rows} items; rebuild the collection")
        return cls(info, items, indexes, folder)

    # ------------------------------------------------------------------ what it holds
    @property
    def bits(self) -> int:
        return int(self.info["bits"])

    @property
    def backend(self) -> str:
        return str(self.info["index"]["backend"])

    def __len__(self) -> int:
        """Items of the collection (pictures added with `with_images` not counted)."""
        return self.items.num_rows

    @property
    def num_images(self) -> int:
        """Pictures that image searches can return (the collection's and any added)."""
        added = len(self._added[0]) if self._added else 0
        return (len(self) if "image" in self.indexes else 0) + added

    @property
    def num_texts(self) -> int:
        return len(self) if "text" in self.indexes else 0

    def item(self, position: int, distance: int = 0) -> Hit:
        """The item at ``position`` as a `Hit` (with ``distance``)."""
        if position >= len(self):
            name = self._added[1][position - len(self)]
            return Hit(int(position), int(distance), None, None, name, [], added=True)
        row = self.items.slice(position, 1).to_pylist()[0]
        return Hit(int(position), int(distance), None if row["row"] < 0 else row["row"], row["path"], row["text"],
                   list(row["labels"] or []))

    def picture_path(self, hit: Hit) -> Path | None:
        """The file of a hit's picture (relative paths resolved against the collection's ``root``)."""
        if hit.path is None:
            return None
        path = Path(hit.path)
        return path if path.is_absolute() else Path(self.info.get("root") or ".") / path

    # ------------------------------------------------------------------ searching
    def _search(self, side: str, codes: Any, k: int) -> list[Hit]:
        if side not in self.indexes:
            raise ValueError(f"This collection has no {side} codes (it was built from {self.info.get('source', 'a source')} "
                             f"without {side}s), so it cannot be searched for {side}s")
        distances, ids = self.indexes[side].search(codes, k)
        pairs = [(int(d), int(i)) for d, i in zip(distances[0], ids[0]) if i >= 0]
        if side == "image" and self._added:
            added_d, added_i = self._added[0].search(codes, k)
            pairs = sorted(pairs + [(int(d), int(i)) for d, i in zip(added_d[0], added_i[0])])[:k]
        return [self.item(i, d) for d, i in pairs]

    def search_images(self, codes: Any, k: int) -> list[Hit]:
        """The ``k`` pictures (the collection's and added ones) nearest to one code, in (distance, id) order."""
        return self._search("image", codes, k)

    def search_texts(self, codes: Any, k: int) -> list[Hit]:
        """The ``k`` texts nearest to one code, in (distance, id) order."""
        return self._search("text", codes, k)

    def with_images(self, codes: Any, names: Sequence[str]) -> "Collection":
        """A view that also holds pictures with ``codes`` (ids after the collection's; ``names`` as captions).

        The backend, its tables and this object are shared and left as they are, so a per-visitor view is cheap.
        """
        index = HammingIndex(self.bits)
        old_names: list[str] = []
        if self._added:
            index.add(self._added[0].packed_codes(), ids=self._added[0].ids)
            old_names = list(self._added[1])
        start = len(self) + len(old_names)
        index.add(codes, ids=np.arange(start, start + len(names), dtype=np.int64))
        return Collection(self.info, self.items, self.indexes, self.folder, (index, old_names + list(names)))

    def close(self) -> None:
        """Release the backend connections."""
        for index in self.indexes.values():
            index.close()

    def __repr__(self) -> str:
        return (f"Collection(source={self.info.get('source')!r}, dataset={self.info.get('dataset')!r}, bits={self.bits}, "
                f"items={len(self)}, backend={self.backend!r}, sides={list(self.indexes)})")
