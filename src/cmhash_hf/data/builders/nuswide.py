"""NUS-WIDE builder (full, top-21 concepts) from the official NUS-WIDE distribution.

Source layout: the official archives unpacked side by side (row ``i`` of every per-image file is image ``i``)::

    <source>/ImageList/Imagelist.txt            269,648 lines like ``C:\\ImageData\\Flickr\\actor\\0001_2124494179.jpg``
    <source>/ConceptsList/Concepts81.txt        the 81 concept names, one per line
    <source>/Groundtruth/AllLabels/Labels_<concept>.txt   one 0/1 value per line and image, for each concept
    <source>/NUS_WID_Tags/All_Tags.txt          ``<flickr photo id> <tag> <tag> ...`` per line
    <source>/NUS_WID_Tags/AllTags1k.txt         the official 1,000-tag bag of words, 1,000 0/1 values per line
    <source>/NUS_WID_Tags/TagList1k.txt         the 1,000 tags, one per line, in the column order of AllTags1k.txt
    <source>/Flickr/<concept>/<NNNN>_<id>.jpg   the images (optional; the last two parts of each Imagelist path)

The 21 concepts with the most positive images are kept (ties broken by ``Concepts81.txt`` order) and stored in
``Concepts81.txt`` order; every image with at least one of them is a row, in ``Imagelist.txt`` order. ``text`` is
the image's tags from ``All_Tags.txt`` (its photo id must match the image file name); ``text_features`` is the
official ``AllTags1k.txt`` row. Without the ``Flickr/`` folder the build logs a warning and keeps only the
text/label side.

Example:
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for sub in ["ImageList", "ConceptsList", "Groundtruth/AllLabels", "NUS_WID_Tags"]:
    ...     (src / sub).mkdir(parents=True)
    >>> _ = (src / "ImageList/Imagelist.txt").write_text("C:\\\\ImageData\\\\Flickr\\\\sky\\\\0001_11.jpg\\n")
    >>> _ = (src / "ConceptsList/Concepts81.txt").write_text("sky\\n")
    >>> _ = (src / "Groundtruth/AllLabels/Labels_sky.txt").write_text("1\\n")
    >>> _ = (src / "NUS_WID_Tags/All_Tags.txt").write_text("11      blue sky\\n")
    >>> _ = (src / "NUS_WID_Tags/AllTags1k.txt").write_text("0 1\\n")
    >>> _ = (src / "NUS_WID_Tags/TagList1k.txt").write_text("sea\\nsky\\n")
    >>> built = build_nuswide(src, num_concepts=1)
    >>> built.dataset[0]["text"], built.dataset[0]["text_features"], built.label_names
    ('blue sky', [0.0, 1.0], ['sky'])
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .common import BuiltDataset, assemble, find_images, read_binary_matrix, read_lines, require_file

#: How many of the most frequent concepts the usual cross-modal hashing form keeps.
NUSWIDE_NUM_CONCEPTS: int = 21


def _read_concept_labels(source: Path, concepts: list[str], num_images: int) -> np.ndarray:
    """The images x concepts 0/1 matrix from the per-concept ``Labels_<concept>.txt`` files."""
    columns = []
    for concept in concepts:
        path = source / "Groundtruth" / "AllLabels" / f"Labels_{concept}.txt"
        column = read_binary_matrix(path, 1, f"the NUS-WIDE label file of concept {concept!r}")[:, 0]
        if len(column) != num_images:
            raise ValueError(f"{path} has {len(column)} rows; Imagelist.txt lists {num_images} images.")
        columns.append(column)
    return np.stack(columns, axis=1)


def _flickr_id(image_path: str) -> str:
    """The Flickr photo id in an image file name ``<NNNN>_<id>.jpg``."""
    match = re.fullmatch(r"\d+_(\d+)\.\w+", image_path.replace("\\", "/").rsplit("/", 1)[-1])
    if match is None:
        raise ValueError(f"Image path {image_path!r} is not of the form <NNNN>_<flickr id>.jpg.")
    return match.group(1)


def build_nuswide(source: str | os.PathLike, num_concepts: int = NUSWIDE_NUM_CONCEPTS) -> BuiltDataset:
    """Build NUS-WIDE from the official files: the ``num_concepts`` most frequent concepts, tags, 1k bag of words."""
    source = Path(source)
    image_list = [line.strip() for line in read_lines(source / "ImageList" / "Imagelist.txt", "the image list")]
    concepts = [line.strip() for line in read_lines(source / "ConceptsList" / "Concepts81.txt", "the concept list")]
    all_labels = _read_concept_labels(source, concepts, len(image_list))
    counts = all_labels.sum(axis=0, dtype=np.int64)
    top = sorted(sorted(range(len(concepts)), key=lambda j: (-counts[j], j))[:num_concepts])
    labels = all_labels[:, top]
    keep = np.flatnonzero(labels.any(axis=1))

    tag_lines = read_lines(source / "NUS_WID_Tags" / "All_Tags.txt", "the NUS-WIDE tag file")
    tag_path = require_file(source / "NUS_WID_Tags" / "AllTags1k.txt", "the NUS-WIDE 1k bag of words")
    bag = read_binary_matrix(tag_path, None, "the NUS-WIDE 1k bag of words")
    tag_list = read_lines(source / "NUS_WID_Tags" / "TagList1k.txt", "the 1k tag list")
    vocabulary = [tag.strip() for tag in tag_list if tag.strip()]
    if not len(tag_lines) == len(bag) == len(image_list) or bag.shape[1] != len(vocabulary):
        raise ValueError(
            f"{source}: Imagelist.txt, All_Tags.txt and AllTags1k.txt have {len(image_list)}, {len(tag_lines)} and "
            f"{len(bag)} rows, and AllTags1k.txt {bag.shape[1]} columns for {len(vocabulary)} tags in TagList1k.txt."
        )
    texts = []
    for i in keep:
        photo_id, *tags = tag_lines[i].split() or [""]
        if photo_id != _flickr_id(image_list[i]):
            raise ValueError(f"All_Tags.txt line {i + 1} is photo {photo_id!r}; Imagelist.txt has {image_list[i]!r}.")
        texts.append(" ".join(tags))

    image_dir = source / "Flickr"
    relative = [image_list[i].replace("\\", "/").split("/")[-2:] for i in keep]
    images = find_images(image_dir, [image_dir.joinpath(*parts) for parts in relative])
    return assemble(
        label_names=[concepts[j] for j in top],
        labels=labels[keep],
        text=texts,
        text_features=bag[keep].astype(np.float32),
        vocabulary=vocabulary,
        image_paths=images,
        missing_image_dir=None if images is not None else image_dir,
        extra_report={"num_source_images": len(image_list), "source_row": keep.tolist()},
        description=(
            f"NUS-WIDE, the images carrying at least one of the {num_concepts} most frequent of the 81 concepts. "
            "text: the Flickr tags (All_Tags.txt); text_features: the official 1,000-tag bag of words "
            "(AllTags1k.txt, vocabulary.json)."
        ),
    )
