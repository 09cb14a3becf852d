"""MIRFlickr-25K builder: the cleaned 20,015-pair subset with 24 labels, Flickr tags and a 1,386-word bag of words.

Source layout (the text files shipped with common public cross-modal hashing code; row ``i`` of every per-item
file is the same item)::

    <source>/img_database.txt   one image path per line, relative to <source> (``images/im<N>.jpg``)
    <source>/mir_label.txt      24 space-separated 0/1 values per line (``0.0``/``1.0`` accepted)
    <source>/txt_database.txt   the item's raw Flickr tags, space-separated
    <source>/common_tags.txt    the 1,386-word tag vocabulary, ``<tag> <count>`` per line, in column order
    <source>/images/            the MIRFLICKR-25000 pictures (optional; see below)

``text`` is the tags joined by single spaces; ``text_features`` marks which vocabulary tags an item has
(exact, case-sensitive token match), in the order of ``common_tags.txt``. Without the ``images/`` folder the
build logs a warning and keeps only the text/label side.

Example:
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> _ = (src / "img_database.txt").write_text("images/im1.jpg\\nimages/im2.jpg\\n")
    >>> rows = [["1.0"] + ["0.0"] * 23, ["0.0"] * 23 + ["1.0"]]
    >>> _ = (src / "mir_label.txt").write_text("\\n".join(" ".join(row) for row in rows))
    >>> _ = (src / "txt_database.txt").write_text("sky  blue\\nsea")
    >>> _ = (src / "common_tags.txt").write_text("sky 9\\nsea 5")
    >>> built = build_mirflickr25k(src)
    >>> built.dataset[0]["text"], built.dataset[0]["text_features"], built.dataset[1]["labels"]
    ('sky blue', [1.0, 0.0], [23])
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import BuiltDataset, build_tagged_dataset, read_lines

#: The 24 MIRFlickr "potential labels" in alphabetical order. ``mir_label.txt`` does not name its columns;
#: this order is the one whose per-label counts match the file (see ``docs/datasets.md``).
MIRFLICKR_LABEL_NAMES: list[str] = [
    "animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake", "male",
    "night", "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset", "transport",
    "tree", "water",
]  # fmt: skip


def build_mirflickr25k(source: str | os.PathLike) -> BuiltDataset:
    """Build MIRFlickr-25K (tags as text and as a bag of words, 24 labels) from the layout in the module doc."""
    source = Path(source)
    vocabulary_lines = read_lines(source / "common_tags.txt", "the MIRFlickr vocabulary")
    vocabulary = [line.split()[0] for line in vocabulary_lines if line.strip()]
    return build_tagged_dataset(
        source,
        files=("img_database.txt", "mir_label.txt", "txt_database.txt"),
        vocabulary=vocabulary,
        label_names=MIRFLICKR_LABEL_NAMES,
        description=(
            "MIRFlickr-25K, cleaned subset (items with at least one label and one common tag). text: the Flickr "
            f"tags; text_features: binary bag of words over the {len(vocabulary)} common tags (vocabulary.json). "
            "Label names: the 24 potential labels in alphabetical order (the source file does not name its columns)."
        ),
    )
