"""Named split protocols (query / train / database) drawn from a fixed seed and saved as JSON.

Example:
    >>> from cmhash_hf.data.splits import make_split
    >>> split = make_split(20015, dataset_name="mirflickr25k", protocol="classic", seed=0)
    >>> len(split.query), len(split.train), len(split.database)
    (2000, 10000, 18015)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..file_utils import atomic_write_text

#: Sizes per protocol and dataset: (num_query, num_train, num_database or None for "all but the queries").
#: Under ``classic`` the training set is drawn from the database (never from the queries); Wiki's database
#: *is* its training set, as in the original release (693 query / 2,173 train = database).
PROTOCOLS: dict[str, dict[str, tuple[int, int, int | None]]] = {
    "classic": {
        "mirflickr25k": (2000, 10000, None),
        "nuswide": (2100, 10500, None),
        "nuswide10k": (2100, 8400, None),
        "iaprtc12": (2000, 10000, 18000),
        "mscoco": (5000, 10000, None),
        "coco-mini": (30, 100, None),
        "wiki": (693, 2173, 2173),
        "shapes": (400, 2000, None),
    },
    "dchmt": {"*": (5000, 10000, None)},
}

#: Fractions used for a dataset the table does not know: (query, train) of the whole; database = the rest.
DEFAULT_FRACTIONS = (0.1, 0.5)

#: ``<protocol>-validation`` is the model-selection split of ``<protocol>``: carved from its training set alone.
VALIDATION_SUFFIX = "-validation"


def validation_protocol(protocol: str) -> str:
    """The name of ``protocol``'s validation split (``classic`` → ``classic-validation``).

    Example:
        >>> validation_protocol("classic"), validation_protocol("dchmt-validation")
        ('classic-validation', 'dchmt-validation')
    """
    return protocol if protocol.endswith(VALIDATION_SUFFIX) else protocol + VALIDATION_SUFFIX
#: Share of the training set held out as validation queries.
VALIDATION_FRACTION = 0.2


@dataclass
class SplitIndices:
    """Row indices of one split of a dataset, with everything needed to re-create it."""

    query: np.ndarray
    train: np.ndarray
    database: np.ndarray
    protocol: str = "classic"
    seed: int = 0
    dataset_name: str = ""
    num_items: int = 0
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "protocol": self.protocol,
            "seed": self.seed,
            "dataset_name": self.dataset_name,
            "num_items": self.num_items,
            "query": self.query.tolist(),
            "train": self.train.tolist(),
            "database": self.database.tolist(),
            **self.extra,
        }

    @classmethod
    def from_dict(cls, data: dict) -> "SplitIndices":
        known = {"protocol", "seed", "dataset_name", "num_items", "query", "train", "database"}
        missing = {"query", "train", "database"} - set(data)
        if missing:
            raise ValueError(f"Split file is missing the index lists {sorted(missing)}.")
        return cls(
            query=np.asarray(data["query"], dtype=np.int64),
            train=np.asarray(data["train"], dtype=np.int64),
            database=np.asarray(data["database"], dtype=np.int64),
            protocol=data.get("protocol", "classic"),
            seed=int(data.get("seed", 0)),
            dataset_name=data.get("dataset_name", ""),
            num_items=int(data.get("num_items", 0)),
            extra={k: v for k, v in data.items() if k not in known},
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the split as JSON (atomically) and return the path."""
        return atomic_write_text(path, json.dumps(self.to_dict()))

    @classmethod
    def load(cls, path: str | os.PathLike) -> "SplitIndices":
        """Read a split written by :meth:`save`."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"No split file at {path}.")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"Split file {path} is not valid JSON: {err}") from None
        return cls.from_dict(data)


def split_sizes(num_items: int, dataset_name: str, protocol: str) -> tuple[int, int, int]:
    """Return (num_query, num_train, num_database) for a dataset of ``num_items`` rows under ``protocol``."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown split protocol {protocol!r}; known: {sorted(PROTOCOLS)}.")
    table = PROTOCOLS[protocol]
    sizes = table.get(dataset_name, table.get("*"))
    if sizes is None:
        num_query = max(1, int(round(num_items * DEFAULT_FRACTIONS[0])))
        num_train = max(1, int(round(num_items * DEFAULT_FRACTIONS[1])))
        sizes = (num_query, num_train, None)
    num_query, num_train, num_database = sizes
    if num_database is None:
        num_database = num_items - num_query
    if num_query + num_database > num_items or num_train > num_database or num_query < 1 or num_train < 1:
        raise ValueError(
            f"Protocol {protocol!r} for {dataset_name or 'this dataset'} needs {num_query} queries and a database "
            f"of {num_database} holding {num_train} training items, but the dataset has {num_items} rows."
        )
    return num_query, num_train, num_database


def make_split(num_items: int, dataset_name: str = "", protocol: str = "classic", seed: int = 0) -> SplitIndices:
    """Draw a query / train / database split from a fixed seed.

    The queries are the first ``num_query`` items of a seeded permutation, the database the next
    ``num_database`` and the training set the first ``num_train`` of the database. Each index list is sorted,
    so the database keeps dataset order (this is the order that breaks Hamming-distance ties).

    Example:
        >>> split = make_split(100, protocol="classic", seed=0)
        >>> (len(split.query), len(split.train), len(split.database))
        (10, 50, 90)
        >>> set(split.query) & set(split.database)
        set()
    """
    num_query, num_train, num_database = split_sizes(num_items, dataset_name, protocol)
    order = np.random.default_rng(seed).permutation(num_items)
    query = order[:num_query]
    database = order[num_query : num_query + num_database]
    train = database[:num_train]
    return SplitIndices(
        query=np.sort(query),
        train=np.sort(train),
        database=np.sort(database),
        protocol=protocol,
        seed=seed,
        dataset_name=dataset_name,
        num_items=num_items,
    )


def carve_validation(split: SplitIndices, fraction: float = VALIDATION_FRACTION) -> SplitIndices:
    """The validation split of ``split``, for choosing settings without ever touching its queries.

    A seeded ``fraction`` of the training items become the validation queries; the rest of the training set is
    both the training set and the retrieval database (as in Wiki's protocol, where the database is the training
    set). The seed is the split's own, so the carve is reproducible.

    Example:
        >>> base = make_split(100, protocol="classic", seed=0)
        >>> validation = carve_validation(base)
        >>> (len(validation.query), len(validation.train), len(validation.database), validation.protocol)
        (10, 40, 40, 'classic-validation')
        >>> set(validation.query) <= set(base.train), set(validation.query) & set(base.query)
        (True, set())
    """
    if not 0 < fraction < 1:
        raise ValueError(f"The validation fraction must lie strictly between 0 and 1, got {fraction}.")
    num_query = int(round(len(split.train) * fraction))
    if num_query < 1 or num_query >= len(split.train):
        raise ValueError(f"A training set of {len(split.train)} items is too small to carve a validation split from.")
    order = np.random.default_rng(split.seed).permutation(split.train)
    train = np.sort(order[num_query:])
    return SplitIndices(
        query=np.sort(order[:num_query]),
        train=train,
        database=train.copy(),
        protocol=split.protocol + VALIDATION_SUFFIX,
        seed=split.seed,
        dataset_name=split.dataset_name,
        num_items=split.num_items,
    )


def split_file_name(protocol: str, seed: int) -> str:
    """The file name a split is saved under: ``splits/<protocol>-seed<seed>.json``."""
    return f"splits/{protocol}-seed{seed}.json"
