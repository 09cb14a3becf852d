"""AdaBoost-style pair weights: pairs the earlier bits got wrong weigh more when the next bits are learned.

Example:
    >>> import torch
    >>> codes = torch.tensor([[1.0], [1.0], [-1.0]])
    >>> similarity = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 1.0]])
    >>> weights = boosting_weights(codes, codes, similarity, strength=1.0)
    >>> bool(weights[0, 2] > weights[0, 0])  # (0, 2) is similar but its bit differs: a mistake
    True
"""

from __future__ import annotations

import torch


def boosting_weights(
    earlier_first: torch.Tensor, earlier_second: torch.Tensor, similarity: torch.Tensor, strength: float
) -> torch.Tensor:
    """Weights of the (i, j) pairs for the next group of bits, from the ±1 codes of the bits learned before it.

    Each earlier bit is a weak classifier of the pair: it calls (i, j) similar when both items take the same value.
    Its vote is wrong on a similar pair whose values differ and on a dissimilar pair whose values agree. The weight
    is w_ij ∝ exp(2β · e_ij), with e_ij the fraction of earlier bits that are wrong on the pair (AdaBoost's
    exponential weights with the same vote weight for every bit, normalised by the number of bits so β keeps
    its meaning at any code length); the weights are scaled to mean 1. With no earlier bits all weights are 1.

    Args:
        earlier_first: (a, k) ±1 codes of the first items of the pairs on the k earlier bits.
        earlier_second: (b, k) ±1 codes of the second items.
        similarity: (a, b), 1 for similar pairs and 0 for dissimilar ones.
        strength: β ≥ 0.

    Returns:
        (a, b) weights with mean 1, without gradient.
    """
    earlier = earlier_first.shape[1]
    if earlier == 0:
        return torch.ones_like(similarity)
    agreement = earlier_first.detach() @ earlier_second.detach().T / earlier
    error_rate = (1 - (2 * similarity - 1) * agreement) / 2
    weights = torch.exp(2 * strength * error_rate)
    return weights / weights.mean()
