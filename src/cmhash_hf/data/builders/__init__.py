"""Builders that turn each dataset's original distribution into the cmhash-hf schema (see ``docs/datasets.md``).

Example:
    >>> from cmhash_hf.data.builders import BUILDERS, build_dataset, list_builders
    >>> "mirflickr25k" in list_builders() and callable(BUILDERS["wiki"])
    True
"""

from .build import build_dataset
from .common import BuiltDataset
from .iaprtc12 import build_iaprtc12
from .mirflickr import MIRFLICKR_LABEL_NAMES, build_mirflickr25k
from .mscoco import build_mscoco
from .nuswide import build_nuswide
from .nuswide10k import build_nuswide10k
from .registry import BUILDERS, get_builder, list_builders
from .wiki import WIKI_LABEL_NAMES, build_wiki

__all__ = [
    "BUILDERS",
    "MIRFLICKR_LABEL_NAMES",
    "WIKI_LABEL_NAMES",
    "BuiltDataset",
    "build_dataset",
    "build_iaprtc12",
    "build_mirflickr25k",
    "build_mscoco",
    "build_nuswide",
    "build_nuswide10k",
    "build_wiki",
    "get_builder",
    "list_builders",
]
