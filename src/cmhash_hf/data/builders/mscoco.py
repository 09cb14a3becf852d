"""MS-COCO builder: one image-caption pair per image with the image's 80 instance categories as labels.

Source layout: the official COCO annotation files, in ``<source>/annotations/`` or directly in ``<source>/``,
for one or more splits (``train2014``, ``val2017``, ...)::

    <source>/[annotations/]captions_<split>.json   images[{id, file_name}], annotations[{image_id, id, caption}]
    <source>/[annotations/]instances_<split>.json  categories[{id, name}], annotations[{image_id, category_id}]
    <source>/images/<file_name>  or  <source>/<split>/<file_name>   the pictures (optional; see below)

Every split that has a captions file is read, and needs its instances file. A row is an image that has at least
one caption and one instance annotation, in image-id order (images without either are dropped and counted in
the report). ``text`` is the image's caption with the **smallest annotation id**, whitespace collapsed; the
labels are the distinct categories of its instances, the 80 categories indexed in ``category_id`` order.
Without an images folder the build logs a warning and keeps only the text/label side.

Example:
    >>> import json, tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> images = [{"id": 7, "file_name": "7.jpg"}]
    >>> _ = (src / "captions_val2017.json").write_text(json.dumps({"images": images, "annotations": [
    ...     {"image_id": 7, "id": 12, "caption": "A dog. "}, {"image_id": 7, "id": 3, "caption": " A  cat."}]}))
    >>> _ = (src / "instances_val2017.json").write_text(json.dumps({"images": images, "annotations": [
    ...     {"image_id": 7, "id": 1, "category_id": 18}], "categories": [{"id": 17, "name": "cat"},
    ...     {"id": 18, "name": "dog"}]}))
    >>> built = build_mscoco(src)
    >>> built.dataset[0]["text"], built.dataset[0]["labels"], built.label_names
    ('A cat.', [1], ['cat', 'dog'])
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .common import BuiltDataset, assemble, find_images, require_file


def _read_json(path: Path, what: str) -> dict[str, Any]:
    return json.loads(require_file(path, what).read_text(encoding="utf-8"))


def _annotation_dir(source: Path) -> Path:
    return source / "annotations" if (source / "annotations").is_dir() else source


def build_mscoco(source: str | os.PathLike) -> BuiltDataset:
    """Build MS-COCO (first caption by annotation id as text, 80 instance categories as labels)."""
    source = Path(source)
    annotation_dir = _annotation_dir(source)
    caption_files = sorted(annotation_dir.glob("captions_*.json"))
    if not caption_files:
        raise FileNotFoundError(f"Expected COCO caption files at {annotation_dir}/captions_<split>.json, found none.")
    categories = None
    first_caption: dict[int, tuple[int, str]] = {}
    num_captions: dict[int, int] = {}
    image_labels: dict[int, set[int]] = {}
    image_file: dict[int, tuple[str, str]] = {}
    for caption_path in caption_files:
        split = caption_path.stem.removeprefix("captions_")
        captions = _read_json(caption_path, "a COCO caption file")
        instances = _read_json(annotation_dir / f"instances_{split}.json", f"the COCO instances file of {split}")
        split_categories = sorted((c["id"], c["name"]) for c in instances["categories"])
        if categories not in (None, split_categories):
            raise ValueError(f"{annotation_dir}/instances_{split}.json lists other categories than the other splits.")
        categories = split_categories
        image_file.update({image["id"]: (split, image["file_name"]) for image in captions["images"]})
        for note in captions["annotations"]:
            image_id = note["image_id"]
            num_captions[image_id] = num_captions.get(image_id, 0) + 1
            if image_id not in first_caption or note["id"] < first_caption[image_id][0]:
                first_caption[image_id] = (note["id"], note["caption"])
        for note in instances["annotations"]:
            image_labels.setdefault(note["image_id"], set()).add(note["category_id"])

    assert categories is not None
    column = {category_id: j for j, (category_id, _name) in enumerate(categories)}
    image_ids = sorted(set(first_caption) & set(image_labels) & set(image_file))
    labels = np.zeros((len(image_ids), len(categories)), dtype=np.uint8)
    for i, image_id in enumerate(image_ids):
        labels[i, [column[c] for c in image_labels[image_id]]] = 1

    flat = source / "images"
    paths: dict[int, str] = {}
    missing_image_dir = None
    for split in dict.fromkeys(image_file[i][0] for i in image_ids):
        folder = flat if flat.is_dir() else source / split
        split_ids = [i for i in image_ids if image_file[i][0] == split]
        found = find_images(folder, [folder / image_file[i][1] for i in split_ids])
        if found is None:
            missing_image_dir = folder
            break
        paths.update(zip(split_ids, found))
    return assemble(
        label_names=[name for _id, name in categories],
        labels=labels,
        text=[" ".join(first_caption[i][1].split()) for i in image_ids],
        image_paths=None if missing_image_dir else [paths[i] for i in image_ids],
        missing_image_dir=missing_image_dir,
        extra_report={
            "image_ids": image_ids,
            "captions_per_image": [num_captions[i] for i in image_ids],
            "num_dropped_without_caption": len(set(image_file) - set(first_caption)),
            "num_dropped_without_labels": len(set(image_file) & set(first_caption) - set(image_labels)),
            "splits": [path.stem.removeprefix("captions_") for path in caption_files],
        },
        description=(
            "MS-COCO, one pair per image that has a caption and an instance annotation, in image-id order. "
            "text: the image's caption with the smallest annotation id; labels: its distinct instance categories "
            f"({len(categories)} categories, in category-id order)."
        ),
    )
