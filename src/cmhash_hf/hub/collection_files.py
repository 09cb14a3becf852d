"""A model repo's collection: the ``index/`` folder of a checkpoint folder or Hub repo, listed and loaded.

`cmhash push --with-index` uploads every file of a collection folder (see `cmhash_hf.retrieval.collection`)
under ``index/``; `load_collection` opens one from a local model folder or downloads it from a Hub repo (through
the Hub cache, only the ``index/`` files).

Example:
    >>> import numpy as np, tempfile, pathlib
    >>> from cmhash_hf.retrieval.collection import CollectionWriter
    >>> model_dir = pathlib.Path(tempfile.mkdtemp())
    >>> writer = CollectionWriter(model_dir / INDEX_FOLDER, bits=8, info={"source": "texts"}, sides=("text",))
    >>> writer.add(text_codes=np.ones((2, 8)), texts=["a", "b"])
    >>> _ = writer.finish()
    >>> sorted(collection_files(model_dir / INDEX_FOLDER))
    ['collection.json', 'items.arrow', 'text_codes.cmhash']
    >>> len(load_collection(model_dir))
    2
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from huggingface_hub import snapshot_download

from ..retrieval.collection import COLLECTION_FILE, Collection

INDEX_FOLDER = "index"


def collection_files(folder: str | os.PathLike) -> dict[str, Path]:
    """Every file of a collection folder, as {path relative to the folder: local path}.

    Raises:
        OSError: the folder holds no collection.
    """
    folder = Path(folder)
    if not (folder / COLLECTION_FILE).is_file():
        raise OSError(f"{folder} holds no collection: {COLLECTION_FILE} is missing (build one with `cmhash index`)")
    return {
        path.relative_to(folder).as_posix(): path
        for path in sorted(folder.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(folder).parts)
    }


def load_collection(
    source: str | os.PathLike,
    subfolder: str = INDEX_FOLDER,
    *,
    cache_dir: str | None = None,
    revision: str | None = None,
    token: str | bool | None = None,
    **options: Any,
) -> Collection:
    """Open the collection in ``subfolder`` of a local model folder, of a collection folder itself (``subfolder=""``),
    or of a Hub repo (downloaded through the Hub cache); ``options`` go to `Collection.load` (e.g. ``uri``).

    Raises:
        OSError: no collection there.
    """
    local = Path(source) / subfolder
    if Path(source).is_dir():
        return Collection.load(local, **options)
    pattern = f"{subfolder}/**" if subfolder else "**"
    try:
        root = snapshot_download(str(source), allow_patterns=[pattern, f"{subfolder}/*" if subfolder else "*"],
                                 cache_dir=cache_dir, revision=revision, token=token)
    except Exception as err:  # huggingface_hub raises many error types for a repo that is not there
        raise OSError(f"{source}/{subfolder} holds no collection: {err}") from err
    return Collection.load(Path(root) / subfolder, **options)
