"""Building a searchable `Collection` with a trained model: ``cmhash index`` without the command line.

Example:
    >>> import tempfile
    >>> from cmhash_hf.retrieval.collection import Collection
    >>> from cmhash_hf.training import HashTrainingArguments, train
    >>> run_dir = tempfile.mkdtemp()
    >>> _ = train(HashTrainingArguments(method="dcmh", output_dir=run_dir, bits=16, epochs=1,
    ...                                 dataset_kwargs={"num_items": 2400}, max_train_samples=32))
    ... # doctest: +ELLIPSIS
    epoch 1/1 done: ...
    >>> collection = Collection.load(index_run(run_dir, run_dir + "/index", split="query", backend="faiss", kind="flat"))
    >>> len(collection), collection.backend, collection.info["split"]
    (400, 'faiss', 'query')
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .data import load_cross_modal_dataset
from .encoding import encode_dataset
from .evaluation import load_run, resolve_split
from .retrieval.collection import CollectionWriter

SPLITS = ("query", "train", "database")


def index_run(
    run_dir: str | os.PathLike,
    output: str | os.PathLike,
    *,
    dataset: str | None = None,
    split: str = "database",
    backend: str = "exact",
    uri: str | None = None,
    kind: str | None = None,
    options: dict[str, Any] | None = None,
    table_prefix: str = "",
    overwrite: bool = False,
    batch_size: int = 256,
) -> Path:
    """Encode the ``split`` part of ``dataset`` (default: the run's training dataset) with the run's model and
    write a collection folder at ``output`` whose codes live in ``backend``; returns the folder."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    run = load_run(run_dir)
    args = run.training_args
    name = dataset or args.get("dataset")
    if name is None:
        raise ValueError(f"{run_dir} records no training dataset: pass a dataset")
    kwargs = args.get("dataset_kwargs", {}) if name == args.get("dataset") else {}
    data = load_cross_modal_dataset(name, **kwargs)
    indices = resolve_split(run_dir, data, args.get("protocol", "classic"), args.get("split_seed", 0))
    rows = np.asarray(getattr(indices, split))
    codes = encode_dataset(run.model, run.processor, data, rows, batch_size, f"indexing {split}")
    names = [[data.label_names[j] for j in np.flatnonzero(hot)] for hot in codes.labels]
    writer = CollectionWriter(
        output, run.model.config.hash_bits, backend=backend, uri=uri, kind=kind, options=options,
        table_prefix=table_prefix, overwrite=overwrite,
        info={"method": run.model.config.model_type, "source": "dataset", "dataset": name, "dataset_kwargs": kwargs,
              "split": split},
    )
    try:
        writer.add(codes.image, codes.text, rows=rows.tolist(),
                   texts=data.texts(rows) if data.has_texts else None, labels=names)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()
