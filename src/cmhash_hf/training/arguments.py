"""`HashTrainingArguments`: every setting of a training run, declared once; saved as ``training_args.json``.

Each field carries its help text in ``metadata["help"]``; the ``cmhash train`` and ``cmhash bench`` options are
generated from the fields (`add_arguments`), and a recipe file (``--config FILE``, YAML or JSON) holds any of
them (`load_config_file`), with the flags given on the command line taking precedence (`arguments_from`).

Example:
    >>> args = HashTrainingArguments(method="dcmh", output_dir="runs/x", bits=16, epochs=1)
    >>> args.to_dict()["method"], args.batch_size, args.lr_scheduler
    ('dcmh', 64, 'constant')
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_arguments(parser)
    >>> ns = parser.parse_args(["--method", "dcmh", "--output-dir", "x", "--lr", "0.01", "--set", "balance_weight=0.5"])
    >>> args = arguments_from(ns)
    >>> args.learning_rate, args.method_kwargs
    (0.01, {'balance_weight': 0.5})
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..encoders.presets import PRESETS
from ..feature_transforms import FEATURE_TRANSFORMS
from .augmentation import IMAGE_AUGMENTATIONS

MIXED_PRECISION = ("no", "fp16", "bf16")
LR_SCHEDULERS = ("constant", "linear", "cosine")
REPORT_TO = ("none", "tensorboard", "wandb")
PRESET_NAMES = tuple(sorted(PRESETS))


def _setting(default: Any = dataclasses.MISSING, help: str = "", **metadata: Any) -> Any:
    """A dataclass field with its help text (and CLI extras such as ``aliases``, ``choices``) in its metadata."""
    extra = {"default_factory": default} if callable(default) else {"default": default}
    if default is dataclasses.MISSING:
        extra = {}
    return field(metadata={"help": help, **metadata}, **extra)


@dataclass
class HashTrainingArguments:
    """Settings of one `cmhash train` run; each field's help text is in its metadata (and in ``cmhash train -h``).

    Towers: ``vision_encoder`` / ``text_encoder`` (or ``encoders`` for one dual-encoder checkpoint such as CLIP)
    start a side from pretrained weights (Hub id or local folder) with that checkpoint's own image processor or
    tokenizer; a side without one gets the ``preset`` tower for pictures and raw text, or a ``features`` MLP for
    datasets of feature vectors. "Encoder parameters" are the parameters of towers started from pretrained weights
    (the encoders named above); they take ``encoder_learning_rate`` and are frozen by ``freeze_encoders``; hash
    layers, towers that start from random weights (preset backbones, MLPs) and method networks take
    ``learning_rate``.
    """

    method: str = _setting(help="a registered method name (see `cmhash_hf.list_methods()`)")
    output_dir: str = _setting(help="the run folder: checkpoints, logs, and finally the model and processor")
    dataset: str = _setting("builtin:shapes", "builtin:shapes, a local dataset folder, or a Hub dataset id")
    preset: str = _setting("tiny", "tower set-up for picture / raw-text sides without a pretrained encoder",
                           choices=PRESET_NAMES)
    vision_encoder: str | None = _setting(None, "pretrained vision encoder (Hub id or folder) for the image tower")
    text_encoder: str | None = _setting(None, "pretrained text encoder (Hub id or folder) for the text tower")
    encoders: str | None = _setting(None, "a dual-encoder checkpoint (CLIP, SigLIP, ...) supplying both towers")
    max_text_length: int = _setting(32, "tokens kept per text (longer texts are truncated)")
    bits: int = _setting(32, "code length")
    epochs: int = _setting(10, "passes over the training set")
    learning_rate: float = _setting(1e-3, "AdamW learning rate of hash layers, randomly initialised towers and method networks",
                                    aliases=["--lr"])
    encoder_learning_rate: float | None = _setting(
        None, "AdamW learning rate of the pretrained encoders (default: --learning-rate)")
    weight_decay: float = _setting(0.0, "AdamW weight decay (one optimiser per training step of the method)")
    lr_scheduler: str = _setting("constant", "learning-rate schedule after the warm-up (transformers.get_scheduler)",
                                 choices=LR_SCHEDULERS)
    warmup_ratio: float = _setting(0.0, "fraction of each optimiser's steps spent warming up linearly from 0")
    freeze_encoders: bool = _setting(False, "keep the pretrained encoders fixed (everything else trains); their "
                                     "outputs are then cached on disk (see --feature-cache-dir), and texts are "
                                     "padded to --max-text-length tokens so that cached and uncached runs agree")
    feature_cache: bool = _setting(True, "with --freeze-encoders, compute each item's encoder outputs once and "
                                   "train from the on-disk cache")
    feature_cache_dir: str | None = _setting(None, "where encoder outputs are cached (default: "
                                             "$CMHASH_FEATURE_CACHE or ~/.cache/cmhash_hf/features)")
    max_grad_norm: float | None = _setting(None, "clip each step's gradient norm to this value (default: no clipping)")
    gradient_checkpointing: bool = _setting(False, "recompute backbone activations in the backward pass (less memory)")
    batch_size: int = _setting(64, "per-process batch size")
    gradient_accumulation_steps: int = _setting(1, "batches whose gradients are summed before each optimiser step")
    seed: int = _setting(0, "seeds weights, data order and per-item state")
    protocol: str = _setting("classic", "split protocol: classic, dchmt, or PROTOCOL-validation (validation queries "
                             "carved from PROTOCOL's training set)")
    split_seed: int = _setting(0, "seed of the split protocol")
    max_train_samples: int | None = _setting(None, "keep only the first N training items (quick runs)")
    mixed_precision: str = _setting("no", "bf16 / fp16 autocast through Accelerate (on CPU fp16 is ignored)",
                                    choices=MIXED_PRECISION)
    save_steps: int | None = _setting(None, "also checkpoint every N batches (for --resume in the middle of an epoch)")
    save_total_limit: int | None = _setting(None, "keep only the newest N checkpoints (they hold the optimiser "
                                            "state; default: keep all)")
    eval_every_epochs: int | None = _setting(
        None, "score mAP on <protocol>-validation every N epochs; the run then trains on that split's training "
        "part, so the query set is never looked at")
    load_best_model: bool = _setting(False, "end with the checkpoint of the best validation mAP (needs "
                                     "--eval-every-epochs)")
    report_to: str = _setting("none", "log losses, learning rates and validation mAP through Accelerate's trackers",
                              choices=REPORT_TO)
    resume: bool = _setting(False, "continue from the newest checkpoint in --output-dir")
    overwrite_output_dir: bool = _setting(False, "start from scratch even if --output-dir holds checkpoints")
    dataset_kwargs: dict[str, Any] = _setting(dict, "arguments of a built-in dataset's generator, e.g. num_items=1000")
    method_kwargs: dict[str, Any] = _setting(dict, "override a field of the method's config, e.g. --set balance_weight=0.5",
                                             aliases=["--set"])
    skip_bad_rows: bool = _setting(
        False, "leave out training rows that cannot be used (empty caption, picture that cannot be decoded, no "
        "labels for a supervised method), found in one pass before training, instead of stopping at the first; "
        "they are listed at the end and in skipped_rows.json in the run folder")
    num_workers: int = _setting(0, "DataLoader worker processes")
    image_feature_transform: str = _setting("standardize", "transform of image_features inputs (feature datasets), "
                                            "fitted on the training set", choices=FEATURE_TRANSFORMS)
    text_feature_transform: str = _setting("standardize", "transform of text_features inputs (feature datasets), "
                                           "fitted on the training set", choices=FEATURE_TRANSFORMS)
    feature_hidden_dims: list[int] = _setting(lambda: [512], "hidden widths of the MLP towers over feature vectors")
    image_augmentation: str = _setting("none", "dihedral: rotate each training picture by a multiple of 90 degrees "
                                       "and maybe mirror it (see cmhash_hf.training.augmentation; pictures only)",
                                       choices=IMAGE_AUGMENTATIONS)

    def __post_init__(self) -> None:
        for name in ("method", "output_dir"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} is required: give --{name.replace('_', '-')} or set it in the --config file.")
        for name, f in self.__dataclass_fields__.items():
            choices = f.metadata.get("choices")
            if choices and getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {tuple(choices)}, got {getattr(self, name)!r}.")
        for name in ("bits", "epochs", "batch_size", "gradient_accumulation_steps", "max_text_length"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        for name in ("learning_rate", "encoder_learning_rate", "max_grad_norm"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive, got {value}.")
        if not 0.0 <= self.warmup_ratio < 1.0:
            raise ValueError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}.")
        for name in ("max_train_samples", "save_total_limit", "save_steps", "eval_every_epochs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"{name} must be a positive integer or None, got {value!r}.")
        if any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in self.feature_hidden_dims):
            raise ValueError(f"feature_hidden_dims must be positive integers, got {self.feature_hidden_dims!r}.")
        if self.encoders and (self.vision_encoder or self.text_encoder):
            raise ValueError("Give either --encoders (one checkpoint for both towers) or --vision-encoder / "
                             "--text-encoder, not both.")
        if self.load_best_model and not self.eval_every_epochs:
            raise ValueError("--load-best-model chooses on validation: give --eval-every-epochs N as well.")

    @property
    def image_encoder_name(self) -> str | None:
        """The pretrained checkpoint of the image tower (``encoders`` or ``vision_encoder``), or None."""
        return self.encoders or self.vision_encoder

    @property
    def text_encoder_name(self) -> str | None:
        """The pretrained checkpoint of the text tower (``encoders`` or ``text_encoder``), or None."""
        return self.encoders or self.text_encoder

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, path: str | Path) -> "HashTrainingArguments":
        """Arguments saved by a run (``training_args.json``); settings added since then take their defaults."""
        return cls(**json.loads(Path(path).read_text()))


SETTING_NAMES = tuple(f.name for f in dataclasses.fields(HashTrainingArguments))
_TYPES = typing.get_type_hints(HashTrainingArguments)


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def key_values(pairs: Sequence[str] | None, option: str) -> dict[str, Any]:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}`` (values read as JSON when they parse, else strings).

    Example:
        >>> key_values(["gamma=0.5", "name=red"], "--set")
        {'gamma': 0.5, 'name': 'red'}
    """
    result = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise ValueError(f"{option} takes KEY=VALUE, got {pair!r}.")
        key, value = pair.split("=", 1)
        result[key.strip().replace("-", "_")] = _parse_value(value)
    return result


def _inner_type(hint: Any) -> Any:
    """``int | None`` → ``int``; other hints unchanged."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return next(arg for arg in typing.get_args(hint) if arg is not type(None))
    return hint


def add_arguments(parser: argparse.ArgumentParser, exclude: Sequence[str] = ()) -> None:
    """Add one option per field of `HashTrainingArguments` (but ``exclude``) to ``parser``.

    Defaults are left out of the namespace (``argparse.SUPPRESS``), so `arguments_from` can tell a flag given
    on the command line from a value of the ``--config`` file.
    """
    parser.add_argument("--config", default=argparse.SUPPRESS, metavar="FILE",
                        help="a recipe (YAML or JSON) holding any of these settings; flags given here override it")
    for f in dataclasses.fields(HashTrainingArguments):
        if f.name in exclude:
            continue
        hint = _inner_type(_TYPES[f.name])
        origin = typing.get_origin(hint) or hint
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        shown = "" if default is dataclasses.MISSING else f" (default: {default})"
        options = [f"--{f.name.replace('_', '-')}", *f.metadata.get("aliases", [])]
        kwargs: dict[str, Any] = {"dest": f.name, "default": argparse.SUPPRESS, "help": f.metadata["help"] + shown}
        if origin is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif origin is dict:
            kwargs.update(action="append", metavar="KEY=VALUE")
        elif origin is list:
            kwargs.update(nargs="+", type=typing.get_args(hint)[0])
        else:
            kwargs["type"] = origin
            if "choices" in f.metadata:
                kwargs["choices"] = f.metadata["choices"]
        parser.add_argument(*options, **kwargs)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """The settings of a recipe file (``.yaml``/``.yml`` or ``.json``); an unknown setting is a `ValueError`.

    Keys may be spelled with hyphens or underscores (``learning-rate`` or ``learning_rate``).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"The config file {path} does not exist.")
    text = path.read_text()
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        try:
            values = yaml.safe_load(text)
        except yaml.YAMLError as err:
            raise ValueError(f"{path} is not valid YAML: {err}".splitlines()[0]) from None
    elif path.suffix.lower() == ".json":
        try:
            values = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON: {err}") from None
    else:
        raise ValueError(f"The config file {path} must end in .yaml, .yml or .json.")
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValueError(f"{path} must hold a mapping of setting: value, got a {type(values).__name__}.")
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(SETTING_NAMES))
    if unknown:
        raise ValueError(f"{path} names unknown settings {unknown}; the settings are the fields of "
                         f"HashTrainingArguments (see `cmhash train -h`).")
    return values


def given_settings(ns: argparse.Namespace) -> dict[str, Any]:
    """The settings of a parsed namespace: those of its ``--config`` file, overridden by the flags given."""
    given = dict(vars(ns))
    values = load_config_file(given.pop("config")) if "config" in given else {}
    for name, value in given.items():
        if name not in SETTING_NAMES:
            continue
        if typing.get_origin(_inner_type(_TYPES[name])) is dict:
            option = next(iter(HashTrainingArguments.__dataclass_fields__[name].metadata.get("aliases", [])),
                          f"--{name.replace('_', '-')}")
            value = {**values.get(name, {}), **key_values(value, option)}
        values[name] = value
    return values


def arguments_from(ns: argparse.Namespace, **overrides: Any) -> HashTrainingArguments:
    """`HashTrainingArguments` from a namespace parsed with `add_arguments` (config file, then flags, then
    ``overrides``)."""
    values = {**given_settings(ns), **overrides}
    for name in ("method", "output_dir"):
        values.setdefault(name, "")
    return HashTrainingArguments(**values)
