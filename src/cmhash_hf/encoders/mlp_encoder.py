"""A tower for vector inputs, and what the two vector kinds (``bow``, ``features``) share: `MLPTowerKind`.

Example:
    >>> import torch
    >>> tower = MLPEncoder({"kind": "features", "input_dim": 10, "hidden_dims": [16], "dropout": 0.0})
    >>> tower(features=torch.zeros(3, 10)).shape
    torch.Size([3, 16])
"""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from .kinds import TowerKind


class MLPEncoder(nn.Module):
    """Linear → ReLU (→ Dropout) blocks over a fixed-width input vector; ``output_dim`` is the last width."""

    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.input_dim = int(spec["input_dim"])
        layers: list[nn.Module] = []
        width = self.input_dim
        for hidden in spec["hidden_dims"]:
            layers += [nn.Linear(width, hidden), nn.ReLU()]
            if spec.get("dropout", 0.0) > 0:
                layers.append(nn.Dropout(spec["dropout"]))
            width = hidden
        self.layers = nn.Sequential(*layers)
        self.output_dim = width

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.layers(features)


class MLPTowerKind(TowerKind):
    """A kind whose tower is an `MLPEncoder` over one vector input per item, named by ``vector_inputs``:
    ``{"kind": ..., "input_dim": D, "hidden_dims": [512], "dropout": 0.0}``. Not registered itself."""

    #: modality -> the model input holding the vectors.
    vector_inputs: ClassVar[dict[str, str]] = {"image": "image_features", "text": "text_features"}
    #: What the vectors are, for the model card and error messages.
    vector_description: ClassVar[str] = "vector"

    def validate(self, spec: dict[str, Any], modality: str) -> dict[str, Any]:
        spec = copy.deepcopy(spec)
        input_dim = spec.get("input_dim")
        if isinstance(input_dim, bool) or not isinstance(input_dim, int) or input_dim < 1:
            raise ValueError(f"A {self.name!r} {modality} encoder spec needs a positive integer 'input_dim', got "
                             f"{input_dim!r}.")
        hidden_dims = spec.setdefault("hidden_dims", [512])
        if not isinstance(hidden_dims, list) or not all(isinstance(d, int) and d > 0 for d in hidden_dims):
            raise ValueError(f"'hidden_dims' of the {modality} encoder must be a list of positive integers.")
        spec.setdefault("dropout", 0.0)
        return spec

    def build(self, spec: dict[str, Any]) -> nn.Module:
        return MLPEncoder(spec)

    def input_names(self, modality: str) -> tuple[str, ...]:
        return (self.vector_inputs[modality],)

    def input_size(self, spec: dict[str, Any], modality: str) -> int:
        return int(spec["input_dim"])

    def describe(self, spec: dict[str, Any], modality: str) -> str:
        return (f"{self.vector_description} of width {spec['input_dim']} into an MLP "
                f"{list(spec.get('hidden_dims') or [])}, trained from scratch")

    def missing_input(self, spec: dict[str, Any], modality: str) -> ValueError:
        return ValueError(f"This model's {modality} tower takes {self.name!r} vectors of width {spec['input_dim']}: "
                          f"pass {self.vector_inputs[modality]}.")

    def tower_inputs(
        self, spec: dict[str, Any], modality: str, inputs: dict[str, Any], device: torch.device, dtype: torch.dtype
    ) -> dict[str, torch.Tensor]:
        name = self.vector_inputs[modality]
        vectors = inputs.get(name)
        if vectors is None:
            raise self.missing_input(spec, modality)
        vectors = torch.as_tensor(vectors)
        if vectors.dim() != 2 or vectors.shape[1] != spec["input_dim"]:
            raise ValueError(
                f"{name} must have shape (batch, {spec['input_dim']}) for this model, got {tuple(vectors.shape)}."
            )
        return {"features": vectors.to(device=device, dtype=dtype)}


def check_vectors(values: Any, width: int, name: str) -> np.ndarray:
    """A float32 (batch, width) matrix of ``values`` (one row may be given flat); a clear `ValueError` for other
    shapes, non-numbers, NaN or infinities."""
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} must be numbers: {err}") from None
    if array.ndim == 1:
        array = array[None, :]
    if array.ndim != 2 or array.shape[1] != width:
        raise ValueError(f"{name} must have shape (batch, {width}), got {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} holds NaN or infinite values.")
    return array
