"""`CrossModalHashConfig`: the configuration every cross-modal hashing method extends.

Example:
    >>> from cmhash_hf import CrossModalHashConfig
    >>> config = CrossModalHashConfig(hash_bits=32, num_classes=24)
    >>> config.hash_bits, config.image_encoder["kind"], config.text_encoder["kind"]
    (32, 'hf', 'hf')
"""

from __future__ import annotations

from typing import Any, ClassVar

from transformers import PreTrainedConfig

from .encoders.specs import default_image_encoder_spec, default_text_encoder_spec, validate_encoder_spec

#: The largest code length we accept; retrieval packs codes into 64-bit words.
MAX_HASH_BITS = 4096


_SIMPLE_TYPES = {"float": (float, int), "int": (int,), "str": (str,), "bool": (bool,), "list": (list,),
                 "dict": (dict,), "tuple": (tuple, list), "None": (type(None),)}


def _expected_types(annotation: str) -> tuple[type, ...] | None:
    """The types a field annotated ``annotation`` (a string such as ``"float | None"``) accepts; None if unknown.

    Example:
        >>> _expected_types("list[str] | None")
        (<class 'list'>, <class 'NoneType'>)
    """
    types: list[type] = []
    for part in annotation.replace("Optional[", "").rstrip("]").split("|"):
        base = part.strip().split("[")[0]
        if base not in _SIMPLE_TYPES:
            return None
        types.extend(_SIMPLE_TYPES[base])
    return tuple(types)


class CrossModalHashConfig(PreTrainedConfig):
    r"""
    Shared configuration of a two-tower cross-modal hashing model.

    Every method's config (`DCMHConfig`, ...) subclasses this one and adds the method's loss and training
    hyper-parameters. The two towers are described by *encoder specs*, plain dicts saved inside `config.json`,
    so a checkpoint rebuilds its encoders from the config alone (no download). ``kind`` names a registered tower
    kind (`cmhash_hf.encoders.kinds`), which checks the rest of the spec; the built-in ones:

    - ``{"kind": "hf", "config": {...}, "pooling": "auto"}``: any `AutoModel` vision backbone or text encoder
      built with `AutoModel.from_config` from the nested config dict (ViT, ResNet, ConvNeXt, CLIP vision/text,
      BERT-like, ...); ``pooling`` is one of ``auto``, ``pooler``, ``cls``, ``mean``.
    - ``{"kind": "bow", "input_dim": V, "hidden_dims": [..]}``: a bag-of-words vector into an MLP.
    - ``{"kind": "features", "input_dim": D, "hidden_dims": [..]}``: a precomputed feature vector into an MLP.

    Args:
        hash_bits (`int`, defaults to 64): code length K.
        image_encoder (`dict`, *optional*): image tower spec; defaults to a tiny random ViT (32 px).
        text_encoder (`dict`, *optional*): text tower spec; defaults to a tiny random BERT.
        num_classes (`int`, defaults to 0): width of the multi-hot label vectors (0 when unknown / unsupervised).
        label_names (`list[str]`, *optional*): names of the labels, in label-vector order.
        dataset_name (`str`, *optional*): the dataset the model was trained on (for the model card).
    """

    model_type = "cmhash"
    #: Earlier names of a method's fields → their names now (docs/decisions.md, "one name for one idea"): a
    #: ``config.json`` saved under an earlier name still loads, its value under the new name.
    renamed_fields: ClassVar[dict[str, str]] = {}

    hash_bits: int = 64
    image_encoder: dict | None = None
    text_encoder: dict | None = None
    num_classes: int = 0
    label_names: list[str] | None = None
    dataset_name: str | None = None

    def __post_init__(self, **kwargs: Any) -> None:
        if isinstance(self.hash_bits, bool) or not isinstance(self.hash_bits, int) or not 1 <= self.hash_bits <= MAX_HASH_BITS:
            raise ValueError(f"hash_bits must be an integer between 1 and {MAX_HASH_BITS}, got {self.hash_bits!r}.")
        self.image_encoder = validate_encoder_spec(self.image_encoder or default_image_encoder_spec(), "image")
        self.text_encoder = validate_encoder_spec(self.text_encoder or default_text_encoder_spec(), "text")
        if self.label_names is not None:
            self.label_names = [str(name) for name in self.label_names]
            if self.num_classes == 0:
                self.num_classes = len(self.label_names)
            elif self.num_classes != len(self.label_names):
                raise ValueError(
                    f"num_classes={self.num_classes} but {len(self.label_names)} label names were given."
                )
        if not isinstance(self.num_classes, int) or self.num_classes < 0:
            raise ValueError(f"num_classes must be a non-negative integer, got {self.num_classes!r}.")
        super().__post_init__(**kwargs)

    @classmethod
    def method_fields(cls) -> dict[str, str]:
        """The fields a method's config adds to the shared ones, with their annotations: what ``--set`` may change.

        Example:
            >>> from cmhash_hf.methods.dcmh.configuration_dcmh import DCMHConfig
            >>> DCMHConfig.method_fields()
            {'quantization_weight': 'float', 'balance_weight': 'float', 'alternate_by': 'str'}
        """
        fields: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            if issubclass(klass, CrossModalHashConfig) and klass is not CrossModalHashConfig:
                fields.update({k: str(v) for k, v in vars(klass).get("__annotations__", {}).items()
                               if not k.startswith("_") and k != "model_type"})
        return fields

    @classmethod
    def check_overrides(cls, overrides: dict[str, Any]) -> None:
        """Refuse overrides (``--set KEY=VALUE``) of unknown fields or of values of the wrong type.

        Raises:
            ValueError: an unknown key, naming it and the valid ones.
            TypeError: a value of the wrong type, naming the key and the expected type.

        Example:
            >>> from cmhash_hf.methods.dcmh.configuration_dcmh import DCMHConfig
            >>> DCMHConfig.check_overrides({"gama": 0.5})
            Traceback (most recent call last):
            ...
            ValueError: dcmh has no setting 'gama' (--set KEY=VALUE); its settings are: quantization_weight, balance_weight, alternate_by.
            >>> DCMHConfig.check_overrides({"balance_weight": "high"})
            Traceback (most recent call last):
            ...
            TypeError: dcmh setting 'balance_weight' expects float, got 'high' (str).
        """
        fields = cls.method_fields()
        for key, value in overrides.items():
            if key not in fields:
                valid = ", ".join(fields) or "none"
                raise ValueError(f"{cls.model_type} has no setting {key!r} (--set KEY=VALUE); its settings are: {valid}.")
            expected = _expected_types(fields[key])
            if expected is None:
                continue
            if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
                names = " or ".join("None" if t is type(None) else t.__name__ for t in expected if t is not int
                                    or float not in expected)
                raise TypeError(
                    f"{cls.model_type} setting {key!r} expects {names}, got {value!r} ({type(value).__name__})."
                )

    def take_renamed_fields(self, kwargs: dict[str, Any]) -> None:
        """Move values given under an earlier field name (``renamed_fields``) to the current field.

        Each method's ``__post_init__`` calls this first, before it checks its fields.

        Example:
            >>> from cmhash_hf.methods.dcmh.configuration_dcmh import DCMHConfig
            >>> DCMHConfig(gamma=0.5).quantization_weight  # a config.json saved before the renaming
            0.5
        """
        for old, new in self.renamed_fields.items():
            if old in kwargs:
                setattr(self, new, kwargs.pop(old))

    def require_non_negative(self, *names: str) -> None:
        """Raise one `ValueError` naming every field among ``names`` whose value is negative (loss weights etc.).

        Example:
            >>> CrossModalHashConfig(hash_bits=8).require_non_negative("hash_bits")
        """
        negative = [f"{name}={getattr(self, name)}" for name in names if getattr(self, name) < 0]
        if negative:
            raise ValueError(f"{', '.join(negative)}: {type(self).__name__} needs these non-negative.")
