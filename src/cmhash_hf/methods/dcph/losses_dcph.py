"""DCPH's losses: the proxy-network loss (stage 1) and the margin-dynamic-softmax loss (stage 2).

Example:
    >>> import torch
    >>> logits = torch.tensor([[0.5, -0.5, 0.1]]); labels = torch.tensor([[1.0, 0.0, 0.0]])
    >>> round(margin_dynamic_softmax_loss(logits, labels, scale=1.0, margin=0.0).item(), 4)
    0.7121
"""

from __future__ import annotations

import torch


def margin_dynamic_softmax_loss(logits: torch.Tensor, positives: torch.Tensor, scale: float, margin: float) -> torch.Tensor:
    """Margin-dynamic-softmax loss, averaged over the rows that have at least one positive.

    For each row with logits ℓ and positive set P: s⁺ = mean_{c ∈ P} ℓ_c (the "dynamic" positive score of a
    multi-label item) and the loss is −log(e^{γ(s⁺−σ)} / (e^{γ(s⁺−σ)} + Σ_{c ∉ P} e^{γ ℓ_c})), computed stably as
    logsumexp − γ(s⁺ − σ). Rows without positives carry no signal and are left out (a zero loss if none has one).

    Args:
        logits: (b, m) scores of each row against m targets (proxies, or the other modality's codes).
        positives: (b, m) 1 where the target is a positive of the row, else 0.
        scale: γ. margin: σ, in the units of ``logits``.

    Example:
        >>> import math
        >>> logits = torch.tensor([[2.0, 0.0, -1.0]]); positives = torch.tensor([[1.0, 1.0, 0.0]])
        >>> value = margin_dynamic_softmax_loss(logits, positives, scale=2.0, margin=0.5).item()
        >>> positive = 2.0 * (1.0 - 0.5)  # s⁺ = 1
        >>> math.isclose(value, -math.log(math.exp(positive) / (math.exp(positive) + math.exp(-2.0))), rel_tol=1e-6)
        True
    """
    positives = positives.to(logits.dtype)
    counts = positives.sum(1)
    has_positive = counts > 0
    positive_term = scale * ((logits * positives).sum(1) / counts.clamp(min=1) - margin)
    negative_terms = (scale * logits).masked_fill(positives > 0, float("-inf"))
    per_row = torch.logsumexp(torch.cat([positive_term[:, None], negative_terms], dim=1), dim=1) - positive_term
    if not has_positive.any():
        return logits.sum() * 0.0
    return per_row[has_positive].mean()


def proxy_network_loss(
    proxy_outputs: torch.Tensor, quantization_weight: float, balance_weight: float
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Stage-1 loss of the proxy network's tanh outputs h (one row per class, values in (−1, 1)).

    - separation: Σ_{j ≠ i} max(0, h_iᵀh_j / K), averaged over the proxies i: positive inner products between
      different proxies are penalised, so their codes end up at Hamming distance ≥ K/2 (summing over the
      other proxies rather than averaging keeps this term from being drowned by quantisation when C is large);
    - quantisation: mean((|h| − 1)²), so the sign loses little;
    - balance: ‖mean_c h_c‖² / K, so each bit splits the classes about evenly.

    Returns:
        The weighted sum and its three parts (detached).

    Example:
        >>> h = torch.tensor([[1.0, 1.0], [1.0, -1.0]])  # orthogonal, binary, bit 1 balanced, bit 0 not
        >>> loss, parts = proxy_network_loss(h, quantization_weight=1.0, balance_weight=1.0)
        >>> parts["separation"].item(), parts["quantization"].item(), parts["balance"].item()
        (0.0, 0.0, 0.5)
    """
    num_classes, bits = proxy_outputs.shape
    inner = proxy_outputs @ proxy_outputs.T / bits
    off_diagonal = ~torch.eye(num_classes, dtype=torch.bool, device=proxy_outputs.device)
    separation = inner.clamp(min=0)[off_diagonal].sum() / num_classes
    quantization = ((proxy_outputs.abs() - 1) ** 2).mean()
    balance = (proxy_outputs.mean(0) ** 2).sum() / bits
    total = separation + quantization_weight * quantization + balance_weight * balance
    parts = {"separation": separation.detach(), "quantization": quantization.detach(), "balance": balance.detach()}
    return total, parts
