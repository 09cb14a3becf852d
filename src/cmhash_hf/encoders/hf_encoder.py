"""A tower around any `transformers` vision backbone or text encoder, with pooling to one vector per item.

Example:
    >>> import torch
    >>> from cmhash_hf.encoders.specs import default_image_encoder_spec
    >>> tower = HFEncoder(default_image_encoder_spec())
    >>> tower(pixel_values=torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 64])
"""

from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn
from transformers import CONFIG_MAPPING, AutoModel, PreTrainedConfig


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
