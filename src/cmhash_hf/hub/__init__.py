"""The Hub side of cmhash-hf: model cards, a model's collection (``index/``), and pushing a checkpoint in one commit.

Example:
    >>> from cmhash_hf.hub import CARD_FILE, LIBRARY_NAME
    >>> CARD_FILE, LIBRARY_NAME
    ('README.md', 'cmhash-hf')
"""

from .collection_files import INDEX_FOLDER, collection_files, load_collection
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
from ..modeling_utils import CrossModalHashPreTrainedModel

# The model class calls these from save_pretrained / push_to_hub; it does not import the Hub layer itself.
CrossModalHashPreTrainedModel.card_writer = staticmethod(write_model_card)
CrossModalHashPreTrainedModel.folder_pusher = staticmethod(push_folder)

__all__ = [
    "CARD_FILE",
    "CARD_MARKER",
    "INDEX_FOLDER",
    "LIBRARY_NAME",
    "build_model_card",
    "card_summary",
    "collection_files",
    "files_to_upload",
    "load_collection",
    "load_model_card",
    "push_folder",
    "write_model_card",
]
