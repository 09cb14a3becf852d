"""NUS-WIDE 10.5K builder: the 10,500-pair, 21-concept subset shipped with common public cross-modal hashing code.

Source layout (row ``i`` of every per-item file is the same item)::

    <source>/img_10500.txt     one image path per line, relative to <source> (``images/<NNNN>_<flickrid>.jpg``)
    <source>/label_10500.txt   21 space-separated 0/1 values per line
    <source>/txt_10500.txt     the item's raw Flickr tags, space-separated
    <source>/TagList1k.txt     the 1,000-tag NUS-WIDE vocabulary, one tag per line, in column order
    <source>/images/           the pictures (optional; see below)

``text`` is the tags joined by single spaces; ``text_features`` marks which of the 1,000 tags an item has
(exact, case-sensitive token match). The source does not name its 21 concepts, so the labels are named
``label_0`` ... ``label_20``. Without the ``images/`` folder the build logs a warning and keeps only the
text/label side.

Example:
    >>> import tempfile
    >>> src = Path(tempfile.mkdtemp())
    >>> _ = (src / "img_10500.txt").write_text("images/0001_1.jpg\\nimages/0002_2.jpg\\n")
    >>> _ = (src / "label_10500.txt").write_text(("1 " + "0 " * 20) + "\\n" + ("0 " * 20 + "1 ") + "\\n")
    >>> _ = (src / "txt_10500.txt").write_text("sky nikon\\nsea\\n")
    >>> _ = (src / "TagList1k.txt").write_text("sky\\nsea\\n")
    >>> built = build_nuswide10k(src)
    >>> built.dataset[0]["text_features"], built.dataset[1]["labels"], built.report["has_images"]
    ([1.0, 0.0], [20], False)
"""

from __future__ import annotations

import os
from pathlib import Path

from .common import BuiltDataset, build_tagged_dataset, read_lines

#: How many concepts the subset keeps.
NUSWIDE10K_NUM_LABELS: int = 21


def build_nuswide10k(source: str | os.PathLike) -> BuiltDataset:
    """Build the NUS-WIDE 10.5K subset (tags as text and as a 1,000-word bag of words, 21 labels)."""
    source = Path(source)
    tag_list = read_lines(source / "TagList1k.txt", "the NUS-WIDE 1k tag list")
    return build_tagged_dataset(
        source,
        files=("img_10500.txt", "label_10500.txt", "txt_10500.txt"),
        vocabulary=[tag.strip() for tag in tag_list if tag.strip()],
        label_names=[f"label_{j}" for j in range(NUSWIDE10K_NUM_LABELS)],
        description=(
            "NUS-WIDE 10.5K subset (10,500 pairs, 21 concepts, as shipped with public cross-modal hashing code). "
            "text: the Flickr tags; text_features: binary bag of words over the 1,000-tag NUS-WIDE list "
            "(vocabulary.json). The source does not name the 21 concepts: labels are label_0 ... label_20."
        ),
    )
