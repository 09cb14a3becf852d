"""``build_dataset``: run a builder, save the dataset with its side files and split files, optionally push it.

The output folder is a ``save_to_disk`` folder (``datasets.load_from_disk`` reads it) with, next to the data:

* ``label_names.json``: the label names in ``ClassLabel`` index order;
* ``vocabulary.json``: the words of the ``text_features`` bag of words in column order (bag-of-words datasets only);
* ``build_report.json``: the builder's counts (rows, positives per label, items with an empty bag of words, ...);
* ``splits/<protocol>-seed<seed>.json``: one file per requested protocol that fits the dataset.

The folder is built in a temporary sibling and renamed into place, so a failed build never replaces a good one.

Example:
    >>> import tempfile, h5py, numpy as np
    >>> src, out = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "wiki"
    >>> with h5py.File(src / "wiki_data.mat", "w") as f:
    ...     for part, n in [("tr", 3), ("te", 1)]:
    ...         f[f"I_{part}"] = np.ones((128, n)); f[f"T_{part}"] = np.ones((10, n))
    ...         f[f"L_{part}"] = np.eye(10)[:, :n]
    >>> ds = build_dataset("wiki", src, out, protocols=("classic",))
    >>> len(ds), sorted(p.name for p in (out / "splits").iterdir())
    (4, ['classic-seed0.json'])
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import uuid
from collections.abc import Sequence
from pathlib import Path

import datasets

from ...file_utils import atomic_write_text
from ..splits import PROTOCOLS, make_split, split_file_name
from .common import BuiltDataset
from .registry import get_builder

logger = logging.getLogger("cmhash_hf.data.builders")

#: The side files written next to the data, pushed to the Hub with it.
SIDE_FILES: tuple[str, ...] = ("label_names.json", "vocabulary.json", "build_report.json", "splits/*.json")


def _check_replaceable(output: Path) -> None:
    """Refuse to replace anything but an empty folder or an earlier ``save_to_disk`` folder."""
    if output.exists() and not (
        output.is_dir() and (not any(output.iterdir()) or (output / "dataset_info.json").is_file())
    ):
        raise FileExistsError(f"{output} exists and is not a saved dataset; refusing to replace it.")


def _write_side_files(built: BuiltDataset, name: str, folder: Path, protocols: Sequence[str], seed: int) -> None:
    atomic_write_text(folder / "label_names.json", json.dumps(built.label_names, indent=1))
    if built.vocabulary is not None:
        atomic_write_text(folder / "vocabulary.json", json.dumps(built.vocabulary, indent=1))
    atomic_write_text(folder / "build_report.json", json.dumps({"dataset": name, **built.report}, indent=1))
    num_items = len(built.dataset)
    for protocol in protocols:
        if protocol in built.fixed_splits:
            split = dataclasses.replace(built.fixed_splits[protocol], seed=seed)
        else:
            try:
                split = make_split(num_items, dataset_name=name, protocol=protocol, seed=seed)
            except ValueError as err:
                logger.warning("Skipping split protocol %r for %s: %s", protocol, name, err)
                continue
        split.save(folder / split_file_name(protocol, seed))


def _replace_folder(new: Path, output: Path) -> None:
    """Move ``new`` to ``output``, replacing an existing ``output`` only once ``new`` is complete."""
    if not output.exists():
        os.replace(new, output)
        return
    old = output.with_name(f".{output.name}.old-{uuid.uuid4().hex[:8]}")
    os.replace(output, old)
    os.replace(new, output)
    shutil.rmtree(old)


def _push(folder: Path, dataset: datasets.Dataset, repo_id: str) -> None:
    from huggingface_hub import HfApi

    dataset.push_to_hub(repo_id)
    HfApi().upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=folder,
        allow_patterns=list(SIDE_FILES),
        commit_message="Add label names, vocabulary, build report and split files",
    )


def build_dataset(
    name: str,
    source: str | os.PathLike,
    output: str | os.PathLike,
    *,
    push_to_hub: str | None = None,
    protocols: Sequence[str] = ("classic", "dchmt"),
    seed: int = 0,
) -> datasets.Dataset:
    """Build dataset ``name`` from its original files in ``source`` and save it to ``output``.

    Args:
        name: a builder name from :func:`list_builders`; also the dataset name for the split sizes.
        source: the folder holding the original distribution (see ``docs/datasets.md`` for each layout).
        output: the folder to write; an existing saved dataset there is replaced only after a successful build.
        push_to_hub: a Hub dataset repo id to push the dataset and its side files to, or ``None``.
        protocols: split protocols to write; those that do not fit the dataset's size are skipped with a warning,
            and a protocol the source defines itself (Wiki's ``classic``) is written as the source defines it.
        seed: the seed of the split draws (and of the split file names).

    Returns:
        The saved dataset, loaded back from ``output``.
    """
    builder = get_builder(name)
    unknown = [protocol for protocol in protocols if protocol not in PROTOCOLS]
    if unknown:
        raise ValueError(f"Unknown split protocols {unknown}; known: {sorted(PROTOCOLS)}.")
    source, output = Path(source), Path(output)
    if not source.is_dir():
        raise FileNotFoundError(f"Expected the {name} source folder at {source}, but there is no such folder.")
    _check_replaceable(output)
    built = builder(source)
    output.parent.mkdir(parents=True, exist_ok=True)
    staging = output.with_name(f".{output.name}.building-{uuid.uuid4().hex[:8]}")
    try:
        staging.mkdir()
        built.dataset.save_to_disk(str(staging))
        _write_side_files(built, name, staging, protocols, seed)
        _replace_folder(staging, output)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    dataset = datasets.load_from_disk(str(output))
    if push_to_hub is not None:
        _push(output, dataset, push_to_hub)
    return dataset
