"""The ``hf`` tower kind: any `transformers` vision backbone or text encoder, pooled to one vector per item.

Its processor sides are a `transformers` image processor (``pixels``: pictures → ``pixel_values``) and a tokenizer
(``tokenizer``: texts → ``input_ids``, ``attention_mask``, ...), saved in their own files beside the processor.

Example:
    >>> import torch
    >>> from cmhash_hf.encoders.specs import default_image_encoder_spec
    >>> tower = HFEncoder(default_image_encoder_spec())
    >>> tower(pixel_values=torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 64])
    >>> HF_KIND.describe(default_image_encoder_spec(), "image")
    '`vit` encoder (transformers AutoModel), trained from scratch'
"""

from __future__ import annotations

import copy
import inspect
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn
from transformers import CONFIG_MAPPING, AutoImageProcessor, AutoModel, AutoTokenizer, PreTrainedConfig

from ..pictures import load_image
from .kinds import InputSide, TowerKind, check_texts, damaged_files, register_tower_kind

POOLING_MODES = ("auto", "pooler", "cls", "mean")


def config_from_dict(config_dict: dict[str, Any]) -> PreTrainedConfig:
    """Rebuild a transformers config from its ``to_dict()`` form (the form saved inside our configs)."""
    model_type = config_dict["model_type"]
    if model_type not in CONFIG_MAPPING:
        raise ValueError(f"transformers does not know the encoder model_type {model_type!r}.")
    return CONFIG_MAPPING[model_type].from_dict(dict(config_dict))


def encoder_output_dim(config: PreTrainedConfig) -> int:
    """The width of the pooled vector: ``hidden_sizes[-1]`` for CNNs (ResNet, ConvNeXt), else ``hidden_size``."""
    hidden_sizes = getattr(config, "hidden_sizes", None)
    if hidden_sizes:
        return int(hidden_sizes[-1])
    hidden_size = getattr(config, "hidden_size", None)
    if hidden_size is None:
        raise ValueError(f"Cannot tell the output width of a {config.model_type!r} encoder (no hidden_size).")
    return int(hidden_size)


def pool_outputs(outputs: Any, attention_mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """Reduce an encoder's outputs to one (batch, dim) vector per item.

    ``auto`` takes ``pooler_output`` when the model has one (flattening ResNet's (B, C, 1, 1)), else ``mean``.
    ``mean`` averages tokens under the attention mask, or the spatial grid of a (B, C, H, W) feature map.
    """
    pooler_output = getattr(outputs, "pooler_output", None)
    if pooling == "auto":
        pooling = "pooler" if pooler_output is not None else "mean"
    if pooling == "pooler":
        if pooler_output is None:
            raise ValueError("pooling='pooler' but the encoder returned no pooler_output; use 'cls' or 'mean'.")
        return pooler_output.flatten(1)
    hidden = outputs.last_hidden_state
    if hidden.dim() == 4:
        return hidden.mean(dim=(2, 3))
    if pooling == "cls":
        return hidden[:, 0]
    if attention_mask is None:
        return hidden.mean(dim=1)
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1.0)


class HFEncoder(nn.Module):
    """Wraps ``AutoModel.from_config(spec["config"])`` and pools its output to ``output_dim`` features."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        config = config_from_dict(spec["config"])
        self.model = AutoModel.from_config(config)
        self.pooling = spec.get("pooling", "auto")
        self.output_dim = encoder_output_dim(config)
        self._forward_args = set(inspect.signature(self.model.forward).parameters)

    @property
    def is_vision(self) -> bool:
        return "pixel_values" in self._forward_args

    def forward(self, **inputs: torch.Tensor | None) -> torch.Tensor:
        kwargs = {k: v for k, v in inputs.items() if v is not None and k in self._forward_args}
        outputs = self.model(**kwargs, return_dict=True)
        return pool_outputs(outputs, kwargs.get("attention_mask"), self.pooling)


def make_image_processor(image_size: int = 32) -> Any:
    """A resize-and-normalise image processor (mean = std = 0.5) for towers trained from scratch."""
    try:
        from transformers import ViTImageProcessorPil as ImageProcessor
    except ImportError:  # transformers releases without the PIL/torchvision split
        from transformers import ViTImageProcessor as ImageProcessor
    return ImageProcessor(size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


class PixelSide(InputSide):
    """Pictures (PIL images, arrays, file paths) → ``pixel_values`` through a `transformers` image processor."""

    kind = "hf"
    mode = "pixels"
    arguments = {"image": "images"}
    takes = "pictures"

    def __init__(self, image_processor: Any, modality: str = "image") -> None:
        super().__init__(modality)
        self.image_processor = image_processor

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        images = [values] if isinstance(values, (Image.Image, str, os.PathLike)) else list(values)
        if not images:
            raise ValueError("The image list is empty.")
        pictures = [load_image(image, i) for i, image in enumerate(images)]
        pixels = np.asarray(self.image_processor(images=pictures, return_tensors="np")["pixel_values"])
        return {"pixel_values": pixels}, len(images)

    def save(self, directory: Path) -> list[str]:
        return [Path(p).name for p in self.image_processor.save_pretrained(directory)]

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "PixelSide":
        with damaged_files(source, "image processor (preprocessor_config.json)"):
            return cls(AutoImageProcessor.from_pretrained(source, **hub_kwargs), modality)

    def identity(self) -> str:
        return self.image_processor.to_json_string()


class TokenSide(InputSide):
    """Texts → ``input_ids`` / ``attention_mask`` (/ ``token_type_ids``) through a `transformers` tokenizer, cut at
    ``max_length`` tokens.

    Padding: by default a batch is padded to its longest text (short batches cost less). With
    ``pad_to_max_length`` every text is padded to ``max_length`` tokens, so a text's tower inputs — and, to the last
    bit, the tower's output for it — do not depend on the other texts of its batch: a transformer's float results
    for one row change in the last bits with the padded length of the batch. Runs with frozen encoders turn it on
    (`training.setup`), so that the feature cache, training without the cache and later encoding all see the same
    fixed-length inputs (docs/decisions.md). The setting is saved as ``<modality>_pad_to_max_length`` in
    ``cmhash_processor.json`` (a processor saved without it pads to the longest text, as before) and is part of
    `identity`, hence of the feature-cache key.
    """

    kind = "hf"
    mode = "tokenizer"
    arguments = {"text": "text"}
    takes = "raw text"

    def __init__(self, tokenizer: Any, max_length: int = 32, modality: str = "text",
                 pad_to_max_length: bool = False) -> None:
        super().__init__(modality)
        self.tokenizer = tokenizer
        if not isinstance(pad_to_max_length, bool):
            raise TypeError(f"pad_to_max_length must be True or False, got {type(pad_to_max_length).__name__}.")
        self.max_length = max_length
        self.pad_to_max_length = pad_to_max_length

    @property
    def vocab_size(self) -> int:
        return len(self.tokenizer)

    @property
    def padding(self) -> str:
        """The tokenizer's ``padding`` argument: ``"max_length"`` or ``"longest"``."""
        return "max_length" if self.pad_to_max_length else "longest"

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        texts = check_texts(values)
        encoded = self.tokenizer(texts, padding=self.padding, truncation=True, max_length=self.max_length,
                                 return_tensors="np")
        return {k: np.asarray(v) for k, v in encoded.items()}, len(texts)

    def to_dict(self) -> dict[str, Any]:
        return {f"{self.modality}_pad_to_max_length": self.pad_to_max_length}

    def save(self, directory: Path) -> list[str]:
        return [Path(p).name for p in self.tokenizer.save_pretrained(directory)]

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "TokenSide":
        with damaged_files(source, "tokenizer (tokenizer.json, tokenizer_config.json)"):
            tokenizer = AutoTokenizer.from_pretrained(source, **hub_kwargs)
        return cls(tokenizer, settings.get("max_length", 32), modality,
                   pad_to_max_length=settings.get(f"{modality}_pad_to_max_length", False))

    def identity(self) -> str:
        vocab = json.dumps(sorted(self.tokenizer.get_vocab().items()))
        return (f"{type(self.tokenizer).__name__}|{self.max_length}|{self.padding}|{self.tokenizer.padding_side}|"
                f"{vocab}")


class HFTowerKind(TowerKind):
    """``{"kind": "hf", "config": {...}, "pooling": "auto", "name_or_path": None}``: `AutoModel.from_config` of the
    nested transformers config (ViT, ResNet, ConvNeXt, CLIP vision/text, BERT-like, ...); ``pooling`` is one of
    ``auto``, ``pooler``, ``cls``, ``mean``; ``name_or_path`` names the checkpoint its weights started from."""

    name = "hf"
    sides = (PixelSide, TokenSide)
    _INPUTS = {"image": ("pixel_values",), "text": ("input_ids", "attention_mask", "token_type_ids")}

    def validate(self, spec: dict[str, Any], modality: str) -> dict[str, Any]:
        spec = copy.deepcopy(spec)
        config = spec.get("config")
        if not isinstance(config, dict) or "model_type" not in config:
            raise ValueError(
                f"An 'hf' {modality} encoder spec needs 'config': a transformers config dict with a 'model_type'."
            )
        spec.setdefault("pooling", "auto")
        if spec["pooling"] not in POOLING_MODES:
            raise ValueError(f"The {modality} encoder pooling must be one of {POOLING_MODES}, got {spec['pooling']!r}.")
        spec.setdefault("name_or_path", None)
        return spec

    def build(self, spec: dict[str, Any]) -> nn.Module:
        return HFEncoder(spec)

    def input_names(self, modality: str) -> tuple[str, ...]:
        return self._INPUTS[modality]

    def input_size(self, spec: dict[str, Any], modality: str) -> int:
        if modality == "text":
            return int(spec["config"]["vocab_size"])
        return int(spec["config"].get("num_channels", 3))

    def describe(self, spec: dict[str, Any], modality: str) -> str:
        text = f"`{spec['config'].get('model_type', 'hf')}` encoder (transformers AutoModel)"
        base = spec.get("name_or_path")
        return text + (f" initialised from `{base}`" if base else ", trained from scratch")

    def missing_input(self, spec: dict[str, Any], modality: str) -> ValueError:
        vector_name = f"{modality}_features"
        return ValueError(f"This model's {modality} tower is a {spec['config']['model_type']!r} encoder: pass "
                          f"{self._INPUTS[modality][0]} (as returned by CrossModalHashProcessor), not {vector_name}.")

    def tower_inputs(
        self, spec: dict[str, Any], modality: str, inputs: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        primary = self._INPUTS[modality][0]
        value = inputs.get(primary)
        if value is None:
            raise self.missing_input(spec, modality)
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"{primary} must be a torch.Tensor, got {type(value).__name__}.")
        if modality == "image":
            channels = spec["config"].get("num_channels", 3)
            if value.dim() != 4 or value.shape[1] != channels:
                raise ValueError(
                    f"pixel_values must have shape (batch, {channels}, height, width), got {tuple(value.shape)}."
                )
            return {"pixel_values": value.to(device=device, dtype=dtype)}
        if value.dim() != 2:
            raise ValueError(f"input_ids must have shape (batch, sequence_length), got {tuple(value.shape)}.")
        vocab_size = spec["config"].get("vocab_size")
        if vocab_size is not None and value.numel() and int(value.max()) >= vocab_size:
            raise ValueError(
                f"input_ids holds token id {int(value.max())} but the text tower's vocabulary has {vocab_size} "
                "entries: was the text tokenized with this model's processor?"
            )
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v
                for k, v in inputs.items() if k in self._INPUTS["text"] and v is not None}


HF_KIND = register_tower_kind(HFTowerKind())
