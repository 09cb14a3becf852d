"""Triplets mined from labels: anchor, positive (shares at least one label), negative (shares none).

Example:
    >>> import torch
    >>> labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
    >>> mine_triplets(labels, labels, exclude_self=True).tolist()
    [[0, 1, 2], [2, 1, 0]]
"""

from __future__ import annotations

import torch

from ...losses import label_similarity


def triplet_mask(anchor_labels: torch.Tensor, candidate_labels: torch.Tensor, exclude_self: bool) -> torch.Tensor:
    """Boolean (a, c, c) tensor: entry [i, p, n] is True when (anchor i, positive p, negative n) is a valid triplet.

    Args:
        anchor_labels: (a, C) multi-hot labels of the anchors.
        candidate_labels: (c, C) multi-hot labels of the items positives and negatives are drawn from.
        exclude_self: the anchors are the candidates themselves (a within-modality triplet), so candidate i is not
            a positive of anchor i. Across modalities it is (the anchor's own paired item), so pass False.

    Positive p: shares at least one label with anchor i. Negative n: shares none (an item without any label is
    therefore a negative of every anchor and never a positive).

    Example:
        >>> labels = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> triplet_mask(labels, labels, exclude_self=False).nonzero().tolist()
        [[0, 0, 1], [1, 1, 0]]
    """
    shared = label_similarity(anchor_labels, candidate_labels).bool()
    positive = shared.clone()
    if exclude_self:
        if anchor_labels.shape[0] != candidate_labels.shape[0]:
            raise ValueError("exclude_self needs the anchors to be the candidates (same number of rows).")
        positive.fill_diagonal_(False)
    return positive.unsqueeze(2) & ~shared.unsqueeze(1)


def mine_triplets(anchor_labels: torch.Tensor, candidate_labels: torch.Tensor, exclude_self: bool) -> torch.Tensor:
    """Every valid (anchor, positive, negative) index triplet, as a (T, 3) long tensor in lexicographic order.

    See `triplet_mask` for the conditions; the losses use the mask directly, which is the same set of triplets.
    """
    return triplet_mask(anchor_labels, candidate_labels, exclude_self).nonzero()
