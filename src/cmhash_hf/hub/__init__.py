"""The Hub side of cmhash-hf: model cards, saved database indexes, and pushing a checkpoint in one commit.

Example:
    >>> from cmhash_hf.hub import CARD_FILE, LIBRARY_NAME
    >>> CARD_FILE, LIBRARY_NAME
    ('README.md', 'cmhash-hf')
"""

from .database_index import INDEX_FOLDER, DatabaseIndex, IndexHit
from .model_card import (
    CARD_FILE,
    CARD_MARKER,
    LIBRARY_NAME,
    build_model_card,
    card_summary,
    load_model_card,
    write_model_card,
)
from .upload import files_to_upload, push_folder

__all__ = [
    "CARD_FILE",
    "CARD_MARKER",
    "INDEX_FOLDER",
    "LIBRARY_NAME",
    "DatabaseIndex",
    "IndexHit",
    "build_model_card",
    "card_summary",
    "files_to_upload",
    "load_model_card",
    "push_folder",
    "write_model_card",
]
