"""Tower kinds: one class per kind of tower, registered by name, owning everything that differs between kinds.

A model config names each tower by an *encoder spec*, a plain dict whose ``kind`` is the name of a registered
`TowerKind`. The kind owns, for its towers:

- the spec: `TowerKind.validate` (fill defaults, a `ValueError` naming the problem), `TowerKind.build` (the
  ``nn.Module``, with an ``output_dim``), `TowerKind.describe` (the model card's sentence);
- the model inputs: `TowerKind.input_names` (the first is the one a caller must pass) and
  `TowerKind.tower_inputs` (checks a batch and returns the tower's keyword arguments);
- the processor side: `TowerKind.new_side` / the `InputSide` classes it lists in ``sides``, which say which
  dataset column a side reads, which keyword of the processor call takes it, how raw values become model inputs,
  and how the side is saved with the processor and loaded again.

The processor (`cmhash_hf.processing`) and the model (`cmhash_hf.modeling_utils`) never compare kind names: they
ask the kind. The built-in kinds are ``hf`` (any `transformers` AutoModel backbone, `hf_encoder.py`), ``bow``
(bag-of-words vectors into an MLP, `bow.py`) and ``features`` (precomputed vectors into an MLP, `features.py`).
A new kind (a timm backbone, say) is one file with a `TowerKind` subclass and its `InputSide`, ending with
``register_tower_kind(MyKind())``; ``tests/tower_cases.py`` then needs its row for the conformance suite.

This module sits beneath both the processor and the model (it imports neither), so both can dispatch through it.

Example:
    >>> list_tower_kinds()
    ['bow', 'features', 'hf']
    >>> kind = get_tower_kind("features")
    >>> spec = kind.validate({"kind": "features", "input_dim": 12}, "image")
    >>> kind.input_names("image"), kind.build(spec).output_dim
    (('image_features',), 512)
    >>> get_tower_kind("cnn")
    Traceback (most recent call last):
    ...
    ValueError: Unknown tower kind 'cnn'; registered kinds: bow, features, hf.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from transformers.utils import cached_file

MODALITIES = ("image", "text")

_KINDS: dict[str, "TowerKind"] = {}


# ---------------------------------------------------------------------- files of a saved processor
def read_json_file(path: str | os.PathLike) -> Any:
    """The JSON in ``path``; a damaged file is an `OSError` that says to save the processor again."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise OSError(f"{path} is not valid JSON ({err}): the processor file is damaged; save the processor "
                      "again or restore the file.") from None


@contextlib.contextmanager
def damaged_files(source: str, what: str) -> Iterator[None]:
    """Turn any error raised while reading ``what`` (a tokenizer, an image processor) into one `OSError`."""
    try:
        yield
    except Exception as err:  # tokenizers / image processors raise assorted errors on a damaged file
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OSError(f"The {what} of {source} cannot be read ({detail}): a file is damaged; save the processor "
                      "again or restore the files.") from None


def resolve_file(source: str, filename: str, hub_kwargs: dict[str, Any]) -> str:
    """The local path of ``filename`` in a processor folder or Hub repo (through the Hub cache)."""
    try:
        path = cached_file(source, filename, **hub_kwargs)
    except OSError:
        path = None
    if path is None:
        raise OSError(f"{source} holds no cmhash-hf processor: {filename} was not found there.")
    return path


# ---------------------------------------------------------------------- the processor side of a kind
class InputSide:
    """One modality's half of a `CrossModalHashProcessor`: raw values (pictures, texts, vectors) → model inputs.

    Class attributes a side declares:

    - ``kind``: the name of its `TowerKind`;
    - ``mode``: its name in ``cmhash_processor.json`` (unique among all sides: ``pixels``, ``tokenizer``, ...);
    - ``arguments`` (modality → name): the keyword of the processor call that takes its values, which is also
      the dataset column the collator reads (except ``images``, which reads the column ``image``).
    """

    kind: ClassVar[str]
    mode: ClassVar[str]
    #: modality -> processor keyword (``images``, ``text``, ``image_features``, ``text_features``).
    arguments: ClassVar[dict[str, str]]
    #: What the side takes, for error messages ("pictures", "raw text", "feature vectors of width 12").
    takes: str = "values"

    def __init__(self, modality: str) -> None:
        if modality not in type(self).arguments:
            raise ValueError(f"A {self.mode!r} side serves {'/'.join(type(self).arguments)} only, not {modality}.")
        self.modality = modality

    @property
    def argument(self) -> str:
        """The processor keyword that takes this side's values."""
        return type(self).arguments[self.modality]

    @property
    def column(self) -> str:
        """The dataset column the collator reads for this side."""
        return {"images": "image"}.get(self.argument, self.argument)

    @property
    def vocab_size(self) -> int | None:
        """Token or word vocabulary size of a text side; None otherwise."""
        return None

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        """Model inputs (numpy arrays, by input name) for a batch of raw ``values``, and the batch length."""
        raise NotImplementedError

    def ignores(self, value: Any) -> bool:
        """True when nothing of ``value`` would reach the tower (a text with no word of a bag-of-words vocabulary)."""
        return False

    def to_dict(self) -> dict[str, Any]:
        """The side's settings stored in ``cmhash_processor.json`` (keys prefixed with the modality)."""
        return {}

    def save(self, directory: Path) -> list[str]:
        """Write the side's own files into ``directory``; returns their names."""
        return []

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "InputSide":
        """The side saved by `save` / `to_dict` in a processor folder or Hub repo ``source``."""
        raise NotImplementedError

    def identity(self) -> str:
        """Everything of the side that decides the model inputs, as a string (part of the feature-cache key)."""
        return json.dumps(self.to_dict(), sort_keys=True)


def check_texts(values: Any) -> list[str]:
    """A batch of texts as a list (one string becomes a list of one); empty or non-string texts are errors."""
    texts = [values] if isinstance(values, str) else list(values)
    if not texts:
        raise ValueError("The text list is empty.")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"Text {i} must be a string, got {type(text).__name__}.")
        if not text.strip():
            raise ValueError(f"Text {i} is empty; every text needs at least one word.")
    return texts


def side_class(mode: str) -> type[InputSide]:
    """The `InputSide` class saved under ``mode`` by any registered kind; a clear `ValueError` otherwise."""
    for kind in _KINDS.values():
        for side in kind.sides:
            if side.mode == mode:
                return side
    modes = sorted(side.mode for kind in _KINDS.values() for side in kind.sides)
    raise ValueError(f"No registered tower kind has a processor side {mode!r}; known sides: {', '.join(modes)}. "
                     "Import the module that registers its tower kind first.")


# ---------------------------------------------------------------------- the kind itself
class TowerKind:
    """Everything that differs between kinds of towers; subclasses set ``name``, ``modalities`` and ``sides``.

    Attributes:
        name: the spec's ``kind``.
        modalities: the modalities a tower of this kind can serve.
        sides: the `InputSide` classes of its processor sides.
        encodes_raw_inputs: False when the tower takes vectors computed elsewhere (so a processor holds no
            vocabulary or picture settings learned from the training data).
    """

    name: ClassVar[str]
    modalities: ClassVar[tuple[str, ...]] = MODALITIES
    sides: ClassVar[tuple[type[InputSide], ...]] = ()
    encodes_raw_inputs: ClassVar[bool] = True

    def check_modality(self, modality: str) -> None:
        if modality not in self.modalities:
            raise ValueError(f"A {self.name!r} tower serves the {' / '.join(self.modalities)} side only, not the "
                             f"{modality} side.")

    def validate(self, spec: dict[str, Any], modality: str) -> dict[str, Any]:
        """A copy of ``spec`` with every field filled; a `ValueError` naming the field that is wrong."""
        raise NotImplementedError

    def build(self, spec: dict[str, Any]) -> nn.Module:
        """The tower of a validated spec: an ``nn.Module`` with an ``output_dim`` attribute."""
        raise NotImplementedError

    def input_names(self, modality: str) -> tuple[str, ...]:
        """The model inputs of a tower of this kind, the required one first."""
        raise NotImplementedError

    def input_size(self, spec: dict[str, Any], modality: str) -> int:
        """Size of the required input's last axis: a vector's width, a vocabulary's size (token ids are below
        it), or a picture's channels."""
        raise NotImplementedError

    def tower_inputs(
        self, spec: dict[str, Any], modality: str, inputs: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        """Check a batch's inputs for this tower and return the tower's keyword arguments (on ``device``).

        Raises:
            ValueError: the required input is missing (naming what to pass) or has the wrong shape.
            TypeError: an input is not a tensor where one is needed.
        """
        raise NotImplementedError

    def describe(self, spec: dict[str, Any], modality: str) -> str:
        """One phrase for the model card: what the tower is and where its weights come from."""
        raise NotImplementedError

    def pretrained_name(self, spec: dict[str, Any]) -> str | None:
        """The checkpoint the tower's weights started from, or None for a tower trained from random weights."""
        return spec.get("name_or_path")

    def missing_input(self, spec: dict[str, Any], modality: str) -> ValueError:
        """The error for a batch without this tower's required input."""
        return ValueError(f"This model's {modality} tower is {self.describe(spec, modality)}: pass "
                          f"{self.input_names(modality)[0]}.")


def register_tower_kind(kind: TowerKind) -> TowerKind:
    """Register ``kind`` under ``kind.name``; registering it (or another object of its class) again is a no-op,
    another class under a taken name is an error, and so is a processor side ``mode`` another kind has.

    Returns the kind, so a module can end with ``register_tower_kind(MyKind())``.
    """
    if not isinstance(kind, TowerKind):
        raise TypeError(f"register_tower_kind takes a TowerKind instance, got {type(kind).__name__}.")
    name = getattr(kind, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"{type(kind).__name__} needs a non-empty string `name`.")
    if name in _KINDS and _KINDS[name] is not kind:
        if type(_KINDS[name]) is type(kind):
            return _KINDS[name]
        raise ValueError(f"A tower kind named {name!r} is already registered ({type(_KINDS[name]).__name__}).")
    taken = {side.mode: other.name for other in _KINDS.values() if other is not kind for side in other.sides}
    for side in kind.sides:
        if side.mode in taken:
            raise ValueError(f"The processor side {side.mode!r} of {name!r} is already a side of {taken[side.mode]!r}.")
    _KINDS[name] = kind
    return kind


def list_tower_kinds() -> list[str]:
    """The names of every registered tower kind, sorted."""
    return sorted(_KINDS)


def get_tower_kind(name: Any) -> TowerKind:
    """The registered kind called ``name``; an unknown name is a `ValueError` listing the registered ones."""
    if name not in _KINDS:
        raise ValueError(f"Unknown tower kind {name!r}; registered kinds: {', '.join(list_tower_kinds())}.")
    return _KINDS[name]


def kind_of(spec: dict[str, Any]) -> TowerKind:
    """The kind of a (validated) encoder spec."""
    return get_tower_kind(spec["kind"])


def validate_encoder_spec(spec: Any, modality: str) -> dict[str, Any]:
    """Check an encoder spec and fill its defaults through its kind; raise `ValueError` naming the problem.

    Args:
        spec: the dict from the config (``kind`` plus the kind's fields).
        modality: ``"image"`` or ``"text"``, used in error messages.

    Returns:
        A new dict with every field present.
    """
    if not isinstance(spec, dict):
        raise ValueError(f"The {modality} encoder spec must be a dict, got {type(spec).__name__}.")
    kind = spec.get("kind")
    if kind not in _KINDS:
        raise ValueError(f"The {modality} encoder kind must be one of {tuple(list_tower_kinds())}, got {kind!r}.")
    tower_kind = _KINDS[kind]
    tower_kind.check_modality(modality)
    return tower_kind.validate(spec, modality)


def build_encoder(spec: dict[str, Any]) -> nn.Module:
    """Build a tower from a validated encoder spec; the module has an ``output_dim`` attribute.

    Example:
        >>> build_encoder({"kind": "bow", "input_dim": 50, "hidden_dims": [8], "dropout": 0.0}).output_dim
        8
    """
    return kind_of(spec).build(spec)
