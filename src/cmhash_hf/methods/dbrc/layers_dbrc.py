"""DBRC's building blocks: the adaptive tanh, the shared binary layer, decoders and reconstruction targets.

Example:
    >>> import torch
    >>> layer = SharedBinaryLayer(input_dim=6, hash_bits=4, scaling="linear", initial_scale=1.0)
    >>> layer(torch.randn(2, 6), "text").shape
    torch.Size([2, 4])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...encoders import kind_of
from ...encoders.kinds import MODALITIES

#: Starting value of the cubic scale β of the nonlinear adaptive tanh.
INITIAL_CUBIC_SCALE = 0.01
#: Weight of the newest batch in the running estimates of the shared layer's normalisation (BatchNorm's default).
NORM_MOMENTUM = 0.1


def inverse_softplus(value: float) -> float:
    """The raw parameter whose softplus is ``value`` (> 0): log(exp(value) − 1).

    Example:
        >>> round(float(F.softplus(torch.tensor(inverse_softplus(2.0)))), 6)
        2.0
    """
    if value <= 0:
        raise ValueError(f"softplus only reaches positive values; got {value}. Give a positive scale.")
    return value + math.log(-math.expm1(-value))


class AdaptiveTanh(nn.Module):
    """tanh of a learned per-unit scaling of its input: tanh(α ⊙ z) (linear) or tanh(α ⊙ z + β ⊙ z³) (nonlinear).

    α = softplus(raw_alpha) and β = softplus(raw_beta) are positive whatever the optimiser does, so the scaling
    is strictly increasing in z (its derivative α + 3β z² > 0) and tanh of it keeps the sign and the order of z.
    α starts at ``initial_scale``; β starts at `INITIAL_CUBIC_SCALE` (softplus never reaches 0 exactly), so
    the nonlinear form starts as nearly the linear one.

    Example:
        >>> act = AdaptiveTanh(2, "linear", initial_scale=3.0)
        >>> [round(v, 4) for v in act(torch.tensor([[0.5, -0.5]]))[0].tolist()]  # tanh(1.5), tanh(-1.5)
        [0.9051, -0.9051]
        >>> with torch.no_grad():
        ...     _ = act.raw_alpha.fill_(-50.0)  # any raw value: α stays positive
        >>> bool((act.alpha > 0).all())
        True
    """

    def __init__(self, units: int, scaling: str, initial_scale: float) -> None:
        super().__init__()
        self.initial_scale = initial_scale
        self.raw_alpha = nn.Parameter(torch.full((units,), inverse_softplus(float(initial_scale))))
        self.raw_beta = (
            nn.Parameter(torch.full((units,), inverse_softplus(INITIAL_CUBIC_SCALE))) if scaling == "nonlinear" else None
        )

    @property
    def alpha(self) -> torch.Tensor:
        """The linear scale per unit, softplus(raw_alpha) > 0."""
        return F.softplus(self.raw_alpha)

    @property
    def beta(self) -> torch.Tensor | None:
        """The cubic scale per unit, softplus(raw_beta) > 0 (None for the linear scaling)."""
        return None if self.raw_beta is None else F.softplus(self.raw_beta)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        scaled = self.alpha * z
        if self.raw_beta is not None:
            scaled = scaled + self.beta * z**3
        return torch.tanh(scaled)


def saturation_penalty(outputs: list[torch.Tensor]) -> torch.Tensor:
    """mean((1 − |u|)²) over the entries u of each modality's outputs, averaged over the modalities.

    DBRC applies it to the adaptive tanh of the *detached* pre-activations (`DBRCModel.compute_loss`), so its
    gradient reaches the scales α (and β) alone and grows them: the codes saturate because α grows, not
    because the layers below move the items.

    Example:
        >>> u = torch.tensor([[1.0, -0.5], [0.0, -1.0]])  # (1-|u|)²: 0, 0.25, 1, 0 -> mean 0.3125
        >>> float(saturation_penalty([u])), float(saturation_penalty([u, torch.ones(1, 2)]))
        (0.3125, 0.15625)
    """
    if not outputs:
        raise ValueError("saturation_penalty needs the outputs of at least one modality.")
    return sum(((1.0 - u.abs()) ** 2).mean() for u in outputs) / len(outputs)


class SharedBinaryLayer(nn.Module):
    """The one binary layer both modalities go through: Linear(input_dim → K), normalised per modality, →
    `AdaptiveTanh`.

    With ``normalize`` (DBRC's ``normalize_pre_activations``), each modality's pre-activations z = Wh + b are
    batch-normalised without a learned affine part, by a `torch.nn.BatchNorm1d` of that modality (batch mean
    and variance in training, their running estimates at query time, when one item comes alone; a lone item in
    training uses the running estimates too). A bit's normalised pre-activation then has mean 0 and variance 1
    over each modality's items, so the layers below can neither give every item the same sign (a constant bit)
    nor shrink z to keep the tanh in its linear range: how saturated the codes are is up to the scales α alone.
    Under DDP each process normalises with its own batch (plain BatchNorm, not SyncBatchNorm); the running
    estimates saved are rank 0's.

    Example:
        >>> layer = SharedBinaryLayer(input_dim=3, hash_bits=2, scaling="linear", initial_scale=1.0)
        >>> with torch.no_grad():
        ...     _ = layer.projection.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]]))
        ...     _ = layer.projection.bias.fill_(1.0)  # a shift every item shares
        >>> h = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
        >>> z = layer.pre_activations(h, "image")  # training: (z − batch mean) / batch std, per bit
        >>> [[round(v, 3) for v in row] for row in z.tolist()]
        [[1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, 1.0]]
        >>> [round(v, 3) for v in layer.norms["image"].running_mean.tolist()], layer.norms["text"].running_mean.tolist()
        ([0.15, 0.2], [0.0, 0.0])
    """

    def __init__(
        self,
        input_dim: int,
        hash_bits: int,
        scaling: str,
        initial_scale: float,
        normalize: bool = True,
        momentum: float = NORM_MOMENTUM,
    ) -> None:
        super().__init__()
        self.projection = nn.Linear(input_dim, hash_bits)
        self.activation = AdaptiveTanh(hash_bits, scaling, initial_scale)
        self.norms = (
            nn.ModuleDict({m: nn.BatchNorm1d(hash_bits, affine=False, momentum=momentum) for m in MODALITIES})
            if normalize
            else None
        )

    def _normalized(self, z: torch.Tensor, modality: str, update_running: bool) -> torch.Tensor:
        if modality not in MODALITIES:
            raise ValueError(f"modality must be one of {MODALITIES}, got {modality!r}.")
        if self.norms is None:
            return z
        norm = self.norms[modality]
        if self.training and z.shape[0] > 1:
            if update_running:
                return norm(z)
            return F.batch_norm(z, None, None, training=True, eps=norm.eps)
        return F.batch_norm(z, norm.running_mean, norm.running_var, training=False, eps=norm.eps)

    def pre_activations(self, features: torch.Tensor, modality: str) -> torch.Tensor:
        """The normalised pre-activations of one modality's features (updating that modality's running
        estimates in training)."""
        return self._normalized(self.projection(features), modality, update_running=True)

    def batch_pre_activations(self, features: torch.Tensor, modality: str) -> torch.Tensor:
        """The same pre-activations without touching the running estimates (the loss recomputes them)."""
        return self._normalized(self.projection(features), modality, update_running=False)

    def forward(self, features: torch.Tensor, modality: str) -> torch.Tensor:
        return self.activation(self.pre_activations(features, modality))


def build_decoder(hash_bits: int, hidden_dim: int, output_dim: int) -> nn.Module:
    """Code → input decoder: Linear → ReLU → Linear, or one Linear when ``hidden_dim`` is 0.

    Example:
        >>> build_decoder(8, 0, 5)
        Linear(in_features=8, out_features=5, bias=True)
    """
    if hidden_dim == 0:
        return nn.Linear(hash_bits, output_dim)
    return nn.Sequential(nn.Linear(hash_bits, hidden_dim), nn.ReLU(), nn.Linear(hidden_dim, output_dim))


def reconstruction_width(spec: dict[str, Any], modality: str, image_size: int) -> int:
    """Width of the reconstruction target of a tower (see `reconstruction_target`).

    Example:
        >>> reconstruction_width({"kind": "bow", "input_dim": 300}, "text", image_size=8)
        300
    """
    kind = kind_of(spec)
    size = kind.input_size(spec, modality)
    primary = kind.input_names(modality)[0]
    if primary == "pixel_values":
        return size * image_size**2
    return size


def reconstruction_target(
    spec: dict[str, Any], modality: str, image_size: int, **inputs: torch.Tensor | None
) -> torch.Tensor:
    """What DBRC reconstructs of one modality's raw inputs, as a float (batch, width) matrix.

    It depends on the tower kind's required input (`TowerKind.input_names`), not on the kind's name:

    - a vector input (``bow`` / ``features`` towers): the input vector itself (``image_features`` / ``text_features``);
    - ``input_ids`` (text backbones): the bag of tokens, a multi-hot over the vocabulary of the unmasked ids;
    - ``pixel_values`` (picture backbones): average-pooled to ``image_size`` × ``image_size``, flattened.

    Example:
        >>> spec = {"kind": "hf", "config": {"model_type": "bert", "vocab_size": 6}}
        >>> ids, mask = torch.tensor([[2, 4, 4, 0]]), torch.tensor([[1, 1, 1, 0]])
        >>> reconstruction_target(spec, "text", 8, input_ids=ids, attention_mask=mask).tolist()
        [[0.0, 0.0, 1.0, 0.0, 1.0, 0.0]]
    """
    kind = kind_of(spec)
    primary = kind.input_names(modality)[0]
    if primary == "input_ids":
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        present = torch.ones_like(ids, dtype=torch.float32) if mask is None else mask.float()
        bag = torch.zeros(ids.shape[0], kind.input_size(spec, modality), device=ids.device)
        return bag.scatter_reduce_(1, ids, present, reduce="amax")
    if primary != "pixel_values":
        return torch.as_tensor(inputs[primary]).float()
    pooled = F.adaptive_avg_pool2d(inputs["pixel_values"].float(), image_size)
    return pooled.flatten(1)
