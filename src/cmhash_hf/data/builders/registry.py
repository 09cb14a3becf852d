"""The registry of dataset builders: name -> function turning a source folder into a :class:`BuiltDataset`.

The registry names are also the dataset names under which :mod:`cmhash_hf.data.splits` looks up split sizes.

Example:
    >>> from cmhash_hf.data.builders import list_builders
    >>> list_builders()
    ['coco-mini', 'iaprtc12', 'mirflickr25k', 'mscoco', 'nuswide', 'nuswide10k', 'wiki']
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .common import BuiltDataset
from .iaprtc12 import build_iaprtc12
from .mirflickr import build_mirflickr25k
from .mscoco import build_mscoco
from .nuswide import build_nuswide
from .nuswide10k import build_nuswide10k
from .wiki import build_wiki

#: Dataset name -> builder. ``coco-mini`` is the COCO builder under the name whose split sizes fit a small subset.
BUILDERS: dict[str, Callable[[str | os.PathLike], BuiltDataset]] = {
    "mirflickr25k": build_mirflickr25k,
    "nuswide10k": build_nuswide10k,
    "nuswide": build_nuswide,
    "iaprtc12": build_iaprtc12,
    "mscoco": build_mscoco,
    "coco-mini": build_mscoco,
    "wiki": build_wiki,
}


def list_builders() -> list[str]:
    """The names :func:`cmhash_hf.data.builders.build_dataset` accepts, sorted."""
    return sorted(BUILDERS)


def get_builder(name: str) -> Callable[[str | os.PathLike], BuiltDataset]:
    """The builder registered as ``name``; ``ValueError`` listing the known names otherwise.

    Example:
        >>> get_builder("wiki").__name__
        'build_wiki'
    """
    if name not in BUILDERS:
        raise ValueError(f"No dataset builder named {name!r}; known: {list_builders()}.")
    return BUILDERS[name]
