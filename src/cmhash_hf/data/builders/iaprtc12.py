"""IAPR TC-12 builder: images, their English descriptions and the SAIAPR TC-12 concept labels.

Source layout: the IAPR TC-12 benchmark (images and ``annotations_complete_eng``) next to the label files of
its segmented and annotated extension, SAIAPR TC-12 (``<NN>`` is the two-digit folder, ``00`` ... ``40``)::

    <source>/images/<NN>/<id>.jpg                    the pictures (optional; see below)
    <source>/annotations_complete_eng/<NN>/<id>.eng  one ``<DOC>`` per image with a ``<DESCRIPTION>`` element
    <source>/wlist.txt                               ``<concept id>\\t<concept name>`` per line (ids from 1)
    <source>/saiapr_tc-12/<NN>/labels.txt            ``<image id> <region id> <concept id>`` per labelled region

A row is an image that has at least one labelled region, in image-id order; its labels are the concepts of
its regions. The label names are the ``wlist.txt`` concepts that label at least one region, in concept-id
order (255 concepts in the cross-modal hashing literature). ``text`` is the ``<DESCRIPTION>`` with its
whitespace collapsed (``.eng`` files are read as UTF-8, or Latin-1 where they are not valid UTF-8). No bag of
words is built. Without the ``images/`` folder the build logs a warning and keeps only the text/label side.

Example:
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> for sub in ["annotations_complete_eng/00", "saiapr_tc-12/00"]:
    ...     (src / sub).mkdir(parents=True)
    >>> _ = (src / "wlist.txt").write_text("1\\tsky\\n2\\tunused\\n3\\tsea\\n")
    >>> _ = (src / "saiapr_tc-12/00/labels.txt").write_text("25 1 3\\n25 2 1\\n")
    >>> _ = (src / "annotations_complete_eng/00/25.eng").write_text(
    ...     "<DOC><DESCRIPTION>a calm\\n sea;</DESCRIPTION></DOC>", encoding="latin-1")
    >>> built = build_iaprtc12(src)
    >>> built.label_names, built.dataset[0]["text"], built.dataset[0]["labels"]
    (['sky', 'sea'], 'a calm sea;', [0, 1])
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from .common import BuiltDataset, assemble, find_images, read_lines, require_file

_DESCRIPTION = re.compile(r"<DESCRIPTION>(.*?)</DESCRIPTION>", re.DOTALL)


def _read_concepts(path: Path) -> dict[int, str]:
    """Concept id -> name from ``wlist.txt``."""
    concepts = {}
    for line in read_lines(path, "the SAIAPR concept list (wlist.txt)"):
        if line.strip():
            concept_id, _tab, name = line.partition("\t")
            concepts[int(concept_id)] = name.strip()
    return concepts


def _read_region_labels(source: Path) -> dict[int, tuple[str, set[int]]]:
    """Image id -> (its two-digit folder, the concept ids of its regions) from every ``labels.txt``."""
    label_root = source / "saiapr_tc-12"
    files = sorted(label_root.glob("*/labels.txt"))
    if not files:
        raise FileNotFoundError(f"Expected the SAIAPR label files at {label_root}/<NN>/labels.txt, but found none.")
    images: dict[int, tuple[str, set[int]]] = {}
    for path in files:
        for line in read_lines(path, "a SAIAPR label file"):
            if line.strip():
                image_id, _region, concept_id = (int(float(value)) for value in line.split())
                images.setdefault(image_id, (path.parent.name, set()))[1].add(concept_id)
    return images


def _read_description(path: Path) -> str:
    """The whitespace-collapsed ``<DESCRIPTION>`` of one ``.eng`` annotation file."""
    raw = require_file(path, "the image's IAPR TC-12 annotation").read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    match = _DESCRIPTION.search(text)
    if match is None:
        raise ValueError(f"{path} has no <DESCRIPTION> element.")
    return " ".join(match.group(1).split())


def build_iaprtc12(source: str | os.PathLike) -> BuiltDataset:
    """Build IAPR TC-12 (descriptions as text, SAIAPR concepts as labels) from the layout in the module doc."""
    source = Path(source)
    concepts = _read_concepts(source / "wlist.txt")
    regions = _read_region_labels(source)
    unknown = {c for _folder, ids in regions.values() for c in ids} - set(concepts)
    if unknown:
        raise ValueError(f"SAIAPR labels use concept ids {sorted(unknown)[:5]} that wlist.txt does not list.")
    used = sorted({c for _folder, ids in regions.values() for c in ids})
    column = {concept_id: j for j, concept_id in enumerate(used)}
    image_ids = sorted(regions)
    labels = np.zeros((len(image_ids), len(used)), dtype=np.uint8)
    texts = []
    for i, image_id in enumerate(image_ids):
        folder, ids = regions[image_id]
        labels[i, [column[c] for c in ids]] = 1
        texts.append(_read_description(source / "annotations_complete_eng" / folder / f"{image_id}.eng"))
    image_dir = source / "images"
    images = find_images(image_dir, [image_dir / regions[i][0] / f"{i}.jpg" for i in image_ids])
    return assemble(
        label_names=[concepts[c] for c in used],
        labels=labels,
        text=texts,
        image_paths=images,
        missing_image_dir=None if images is not None else image_dir,
        extra_report={"image_ids": image_ids, "num_source_concepts": len(concepts)},
        description=(
            "IAPR TC-12 with SAIAPR TC-12 labels: one row per labelled image, in image-id order. text: the English "
            f"<DESCRIPTION>; labels: the {len(used)} wlist.txt concepts that label at least one region."
        ),
    )
