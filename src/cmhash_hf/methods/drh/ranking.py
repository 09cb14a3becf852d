"""The ranking-based hash function of DRH: each bit says which of its learned projections is largest.

Example:
    >>> import torch
    >>> layer = RankingHashLayer(input_dim=3, hash_bits=2, subspaces=4, temperature=0.5)
    >>> layer.scores(torch.zeros(1, 3)).shape
    torch.Size([1, 2, 4])
"""

from __future__ import annotations

import torch
from torch import nn


class RankingHashLayer(nn.Module):
    """Linear subspace ranking hash: M projections per bit, relaxed for training by a tempered softmax.

    The bit is +1 when the largest of its M projections w_kᵀx + b_k lies in the second half of them, −1 when it
    lies in the first (for M = 2: argmax ∈ {0, 1} ↦ {−1, +1}). The continuous output is the softmax relaxation
    p(second) − p(first) over the two halves' largest projections s₁, s₂ at temperature T, i.e.
    tanh((s₂ − s₁) / 2T), in (−1, 1). Its sign is the hard bit at every temperature (a tie s₁ = s₂ gives 0,
    which `binarize` maps to +1), so the sign of the output *is* the argmax code, and as T falls the output
    tends to that code. With M = 2 the code is sign((w₂ − w₁)ᵀx + b₂ − b₁), a linear layer; M ≥ 4 (DRH's default
    4) gives the ranking family's piecewise-linear bits (see `cmhash_hf.methods.drh.modeling_drh`).

    Args:
        input_dim: width of the tower features; hash_bits: K; subspaces: M (even, ≥ 2); temperature: T > 0.
    """

    def __init__(self, input_dim: int, hash_bits: int, subspaces: int, temperature: float) -> None:
        super().__init__()
        self.hash_bits = hash_bits
        self.subspaces = subspaces
        self.temperature = temperature
        self.projection = nn.Linear(input_dim, hash_bits * subspaces)

    def scores(self, features: torch.Tensor) -> torch.Tensor:
        """The projections w_kᵀx + b_k of every bit: shape (batch, hash_bits, subspaces)."""
        return self.projection(features).unflatten(-1, (self.hash_bits, self.subspaces))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        scores = self.scores(features)
        half = self.subspaces // 2
        first, second = scores[..., :half].amax(-1), scores[..., half:].amax(-1)
        return torch.tanh((second - first) / (2 * self.temperature))
