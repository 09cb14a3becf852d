"""The index interface every retrieval backend implements, and the backend registry.

A backend stores ``bits``-bit binary codes with ``int64`` ids and answers top-k Hamming searches.
Every index lives at a ``uri`` (a folder, a database file or a server address, per backend) under a
``table`` name, so one ``uri`` can hold the image and the text codes of a collection side by side:

* :meth:`CodeIndex.create` makes a new, empty index there (an existing one is an error unless
  ``overwrite=True``; one of another code width is named as such);
* :meth:`CodeIndex.open` reconnects to an existing one (``bits``, when given, is checked);
* :meth:`CodeIndex.add` appends codes (``(n, bits)`` ±1/0-1 values or packed ``uint8`` rows, see
  :mod:`cmhash_hf.retrieval.packing`) with their ids;
* :meth:`CodeIndex.search` returns ``(distances int32, ids int64)`` of shape ``(nq, min(k, len))``,
  each row ordered by (distance, id); rows an approximate search could not fill are padded with
  distance ``-1`` and id ``-1``;
* :meth:`CodeIndex.save` makes what was added durable (writes the file of an in-process backend,
  flushes a server's collection); :meth:`CodeIndex.close` releases connections.

Each backend offers ``kinds``: ``"flat"`` is exact brute force (``index.exact`` is true); the
others (``"ivf"``, ``"hnsw"``) are approximate. The ``exact`` backend alone also orders equal
distances by insertion order, which equals id order whenever ids increase as they are added (as
in a :class:`~cmhash_hf.retrieval.Collection`); a flat search elsewhere returns the exact distances,
but among items tied at the k-th distance the engine chooses which ones come back.

Backends whose client library is optional are imported only when first used; a missing library is
one ``ImportError`` naming the package to install.

Example:
    >>> import numpy as np, tempfile
    >>> from cmhash_hf.retrieval import get_backend, list_backends
    >>> list_backends()
    ['exact', 'faiss', 'lancedb', 'milvus']
    >>> folder = tempfile.mkdtemp()
    >>> index = get_backend("exact").create(8, folder, table="demo")
    >>> index.add(np.array([[1] * 8, [-1] * 8]), ids=[10, 20])
    >>> index.save()
    >>> reopened = get_backend("exact").open(folder, table="demo", bits=8)
    >>> reopened.search(np.array([[1] * 7 + [-1]]), k=2)
    (array([[1, 7]], dtype=int32), array([[10, 20]]))
"""

from __future__ import annotations

import importlib
import re
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from ..packing import as_packed, check_ids, check_k

__all__ = [
    "CodeIndex",
    "get_backend",
    "list_backends",
    "register_backend",
    "require_package",
    "order_results",
]

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


def require_package(module: str, package: str, backend: str) -> Any:
    """Import ``module`` or raise one ``ImportError`` saying which package to install for ``backend``.

    Example:
        >>> require_package("numpy", "numpy", "exact").__name__
        'numpy'
        >>> require_package("no_such_module_xyz", "no-such-package", "demo")
        Traceback (most recent call last):
        ...
        ImportError: The 'demo' index backend needs the no-such-package package: pip install 'no-such-package' (or pip install 'cmhash-hf[backends]').
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise ImportError(
            f"The {backend!r} index backend needs the {package} package: pip install '{package}' "
            "(or pip install 'cmhash-hf[backends]')."
        ) from err


def order_results(distances: np.ndarray, ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sort each row by (distance, id), padding (distance -1, id -1) last, and keep ``k`` columns.

    Example:
        >>> order_results(np.array([[3, 1, -1, 1]]), np.array([[5, 9, -1, 2]]), 3)
        (array([[1, 1, 3]], dtype=int32), array([[2, 9, 5]]))
    """
    distances = np.asarray(distances, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    padding = distances < 0
    key = np.where(padding, np.iinfo(np.int64).max, distances)
    order = np.lexsort((ids, key), axis=-1) if distances.size else np.zeros(distances.shape, dtype=np.int64)
    distances = np.take_along_axis(distances, order, axis=1)[:, :k]
    ids = np.take_along_axis(ids, order, axis=1)[:, :k]
    return distances.astype(np.int32), ids


class CodeIndex(ABC):
    """Top-k Hamming search over ``bits``-bit codes with ``int64`` ids (see the module docstring).

    Subclasses set ``name`` (the registry key), ``kinds`` (the first is the default; ``"flat"`` is exact)
    ``package`` (the pip package of an optional client library, or ``None``) and ``stable_ties``, and implement
    ``_create``, ``_open``, ``_add``, ``_search``, ``__len__`` and, where needed, ``save`` and ``close``.
    """

    name: ClassVar[str]
    kinds: ClassVar[tuple[str, ...]] = ("flat",)
    package: ClassVar[str | None] = None
    #: Backend options and their defaults (anything else is refused by name).
    defaults: ClassVar[dict[str, Any]] = {}
    #: The kinds that work without a server (what the conformance suite can run here).
    local_kinds: ClassVar[tuple[str, ...] | None] = None
    #: Whether equal distances come back in insertion order (else in id order, among the items the engine chose).
    stable_ties: ClassVar[bool] = False

    def __init__(self, bits: int, uri: str | None, table: str, kind: str, options: dict[str, Any]) -> None:
        self.bits = bits
        self.uri = uri
        self.table = table
        self.kind = kind
        self.options = options

    # ------------------------------------------------------------------ construction
    @classmethod
    def with_defaults(cls, options: dict[str, Any]) -> dict[str, Any]:
        """``options`` over the backend's ``defaults``; an unknown option is a ``ValueError`` naming the known ones."""
        unknown = set(options) - set(cls.defaults)
        if unknown:
            known = sorted(cls.defaults) or "no options"
            raise ValueError(f"Unknown option(s) {sorted(unknown)} of the {cls.name!r} backend; it takes {known}")
        return {**cls.defaults, **options}

    @classmethod
    def _check_common(cls, bits: Any, table: str, kind: str | None) -> tuple[int, str]:
        if isinstance(bits, bool) or not isinstance(bits, (int, np.integer)) or bits < 1:
            raise ValueError(f"bits must be a positive integer, got {bits!r}")
        if not isinstance(table, str) or not _TABLE_NAME.match(table):
            raise ValueError(f"table must be a name of letters, digits and underscores (not starting with a digit), got {table!r}")
        kind = kind or cls.kinds[0]
        if kind not in cls.kinds:
            raise ValueError(f"The {cls.name!r} backend offers kinds {list(cls.kinds)}, got {kind!r}")
        return int(bits), kind

    @classmethod
    def create(
        cls, bits: int, uri: str | None = None, *, table: str = "codes", kind: str | None = None,
        overwrite: bool = False, **options: Any,
    ) -> "CodeIndex":
        """A new, empty index of ``bits``-bit codes at ``uri`` / ``table``.

        Raises:
            ValueError: an index already exists there (pass ``overwrite=True`` to replace it), or a bad setting.
            OSError: ``uri`` cannot be reached or written.
        """
        bits, kind = cls._check_common(bits, table, kind)
        return cls._create(bits, None if uri is None else str(uri), table, kind, overwrite, options)

    @classmethod
    def open(cls, uri: str, *, table: str = "codes", bits: int | None = None, **options: Any) -> "CodeIndex":
        """Reconnect to the index at ``uri`` / ``table``; with ``bits``, its code width must match.

        Raises:
            OSError: there is no index there, or ``uri`` cannot be reached.
            ValueError: the stored codes have another width than ``bits``.
        """
        cls._check_common(bits or 1, table, None)
        index = cls._open(str(uri), table, options)
        if bits is not None and index.bits != bits:
            index.close()
            raise ValueError(
                f"{uri} ({table}) holds {index.bits}-bit codes, not {bits}-bit ones: use another table or uri, "
                "or rebuild it with the model that makes these codes"
            )
        return index

    @classmethod
    @abstractmethod
    def _create(cls, bits: int, uri: str | None, table: str, kind: str, overwrite: bool,
                options: dict[str, Any]) -> "CodeIndex": ...

    @classmethod
    @abstractmethod
    def _open(cls, uri: str, table: str, options: dict[str, Any]) -> "CodeIndex": ...

    # ------------------------------------------------------------------ use
    @property
    def exact(self) -> bool:
        """Whether searches return the exact top-k distances (a ``"flat"`` index)."""
        return self.kind == "flat"

    def add(self, codes: Any, ids: Any = None) -> None:
        """Append ``codes`` with ``int64`` ``ids`` (default: ``len(index)``, ``len(index) + 1``, ...)."""
        packed, _ = as_packed(codes, self.bits)
        self._add(packed, check_ids(ids, packed.shape[0], len(self)))

    def search(self, query_codes: Any, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` by Hamming distance: ``(distances int32, ids int64)``, shape ``(nq, min(k, len))``."""
        k = check_k(k)
        packed, _ = as_packed(query_codes, self.bits, name="query codes")
        k_eff = min(k, len(self))
        if k_eff == 0:
            return np.zeros((packed.shape[0], 0), dtype=np.int32), np.zeros((packed.shape[0], 0), dtype=np.int64)
        return self._search(packed, k_eff)

    @abstractmethod
    def _add(self, packed: np.ndarray, ids: np.ndarray) -> None: ...

    @abstractmethod
    def _search(self, packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abstractmethod
    def __len__(self) -> int: ...

    def save(self) -> None:
        """Make every added code durable at ``uri`` (nothing to do where each ``add`` already is)."""

    def close(self) -> None:
        """Release connections (the index can be reopened with :meth:`open`)."""

    def spec(self) -> dict[str, Any]:
        """What :meth:`open` needs to reconnect: backend, uri, table, kind and options."""
        return {"backend": self.name, "uri": self.uri, "table": self.table, "kind": self.kind, **self.options}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bits={self.bits}, kind={self.kind!r}, uri={self.uri!r}, table={self.table!r}, size={len(self)})"


_REGISTRY: dict[str, str | type[CodeIndex]] = {}


def register_backend(name: str, backend: str | type[CodeIndex]) -> None:
    """Register a backend class, or the ``"module:Class"`` path of one (imported only when first used).

    Example:
        >>> register_backend("exact", "cmhash_hf.retrieval.backends.exact:ExactIndex")
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A backend name must be a non-empty string, got {name!r}")
    _REGISTRY[name] = backend


def list_backends() -> list[str]:
    """The registered backend names, sorted."""
    return sorted(_REGISTRY)


def get_backend(name: str) -> type[CodeIndex]:
    """The backend class registered as ``name`` (its module is imported now).

    Raises:
        ValueError: no backend of that name.
        ImportError: the backend's client library is missing (the message names the package).
    """
    if name not in _REGISTRY:
        raise ValueError(f"Unknown index backend {name!r}; choose one of {list_backends()}")
    entry = _REGISTRY[name]
    if isinstance(entry, str):
        module_name, _, class_name = entry.partition(":")
        entry = getattr(importlib.import_module(module_name), class_name)
        _REGISTRY[name] = entry
    return entry

