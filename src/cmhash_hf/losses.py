"""Loss pieces shared by several hashing methods: label similarity, pairwise likelihood, cross-modal triplets.

Every function works on continuous codes in (-1, 1) of shape (batch, K) and returns a scalar that is a mean
(so its scale does not grow with the batch), which keeps the default weights of the methods comparable.

Example:
    >>> import torch
    >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> label_similarity(labels, labels).tolist()
    [[1.0, 0.0], [0.0, 1.0]]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .modeling_utils import binarize


def label_similarity(labels: torch.Tensor, other_labels: torch.Tensor) -> torch.Tensor:
    """S_ij = 1 where row i of ``labels`` and row j of ``other_labels`` share at least one label, else 0.

    Example:
        >>> label_similarity(torch.tensor([[1.0, 1.0]]), torch.tensor([[0.0, 1.0], [0.0, 0.0]])).tolist()
        [[1.0, 0.0]]
    """
    return (labels.float() @ other_labels.float().T > 0).float()


def pairwise_likelihood_loss(outputs: torch.Tensor, other: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood of pairwise similarities, mean over pairs: softplus(Θ_ij) − S_ij Θ_ij, Θ = ½ U Vᵀ.

    The likelihood of S_ij = 1 is σ(Θ_ij) (DCMH's form): codes of similar items are pushed to agree, of
    dissimilar items to disagree.

    Args:
        outputs: (b, K) continuous codes; other: (n, K) continuous codes; similarity: (b, n) in {0, 1}.

    Example:
        >>> u = torch.tensor([[1.0, -1.0]])
        >>> round(pairwise_likelihood_loss(u, u, torch.ones(1, 1)).item(), 4)  # softplus(1) - 1
        0.3133
    """
    theta = 0.5 * outputs.float() @ other.float().T
    return (F.softplus(theta) - similarity * theta).mean()


def quantization_loss(outputs: torch.Tensor, codes: torch.Tensor | None = None) -> torch.Tensor:
    """Mean squared distance ‖B − U‖² / (b·K) from continuous outputs U to binary codes B (their own sign by default).

    Example:
        >>> quantization_loss(torch.tensor([[0.5, -1.0]])).item()  # ((1 - 0.5)² + 0²) / 2
        0.125
        >>> quantization_loss(torch.tensor([[0.5, -1.0]]), codes=torch.tensor([[-1.0, -1.0]])).item()
        1.125
    """
    outputs = outputs.float()
    if codes is None:
        codes = binarize(outputs.detach()).float()
    return ((codes - outputs) ** 2).mean()


def cross_modal_triplet_loss(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    anchor_labels: torch.Tensor,
    candidate_labels: torch.Tensor,
    margin: float,
) -> torch.Tensor:
    """Hinge over every in-batch triplet (anchor, positive, negative): max(0, margin + d(a, p) − d(a, n)).

    Positives and negatives are ``candidates`` (usually the other modality) that share / share no label with the
    anchor. The distance d(a, c) = (1 − aᵀc / K) / 2 is the fraction of differing bits for binary codes. The mean
    runs over valid triplets; a batch without any gives 0.

    Example:
        >>> codes = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0]])
        >>> labels = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
        >>> cross_modal_triplet_loss(codes, codes, labels, labels, margin=0.5).item()  # every triplet is satisfied
        0.0
    """
    bits = anchors.shape[1]
    distance = 0.5 * (1.0 - anchors.float() @ candidates.float().T / bits)
    similar = label_similarity(anchor_labels, candidate_labels).bool()
    valid = similar.unsqueeze(2) & ~similar.unsqueeze(1)  # (anchor, positive, negative)
    hinge = F.relu(margin + distance.unsqueeze(2) - distance.unsqueeze(1))
    return (hinge * valid).sum() / valid.sum().clamp(min=1)
