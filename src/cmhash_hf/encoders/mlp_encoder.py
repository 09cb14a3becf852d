"""A tower for vector inputs: bag-of-words vectors (`bow`) or precomputed features (`features`).

Example:
    >>> import torch
    >>> tower = MLPEncoder({"kind": "features", "input_dim": 10, "hidden_dims": [16], "dropout": 0.0})
    >>> tower(features=torch.zeros(3, 10)).shape
    torch.Size([3, 16])
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


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
