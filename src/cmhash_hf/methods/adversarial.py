"""The discriminators of the adversarial methods (GANCMH, DFAH) and the two sides of each game.

- `ModalityDiscriminator` scores how image-like a (continuous) code is; the generators (the modality networks)
  are trained with the flipped targets (the non-saturating GAN loss), so the two losses pull in opposite
  directions: every discriminator step makes image and text outputs easier to tell apart, every generator step
  harder.
- `PairDiscriminator` reads an (image code, text code) pair and scores whether it is a matched pair (the image
  and the text of one item) or a mismatched one (`mismatched_pairs`: the image of one item with the text of
  another). Its generators' side (`pair_confusion_loss`) again flips the targets, so the generators work to make
  the joint distribution of matched code pairs indistinguishable from that of the mismatched ones.

Example:
    >>> import torch
    >>> discriminator = ModalityDiscriminator(input_dim=8, hidden_dim=16)
    >>> image, text = torch.randn(4, 8), torch.randn(4, 8)
    >>> discriminator(image).shape, discriminator_loss(discriminator, image, text).dim()
    (torch.Size([4]), 0)
    >>> pairs = PairDiscriminator(bits=8, hidden_dim=16)
    >>> pairs(image, text).shape, pair_discriminator_loss(pairs, image, text, torch.ones(4, 4)).dim()
    (torch.Size([4]), 0)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ModalityDiscriminator(nn.Module):
    """MLP from a code (or feature) vector to one logit: positive means "image", negative means "text"."""

    def __init__(self, input_dim: int, hidden_dim: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(input_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, hidden_dim),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden_dim, 1),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layers(inputs).squeeze(-1)


def _modality_loss(
    discriminator: ModalityDiscriminator, image: torch.Tensor, text: torch.Tensor, image_target: float
) -> torch.Tensor:
    image_logits = discriminator(image).float()
    text_logits = discriminator(text).float()
    image_term = F.binary_cross_entropy_with_logits(image_logits, torch.full_like(image_logits, image_target))
    text_term = F.binary_cross_entropy_with_logits(text_logits, torch.full_like(text_logits, 1.0 - image_target))
    return 0.5 * (image_term + text_term)


def discriminator_loss(
    discriminator: ModalityDiscriminator, image_outputs: torch.Tensor, text_outputs: torch.Tensor
) -> torch.Tensor:
    """The discriminator's loss: binary cross-entropy with image → 1, text → 0 (the outputs are detached).

    Example:
        >>> d = ModalityDiscriminator(2, 4)
        >>> discriminator_loss(d, torch.zeros(3, 2), torch.zeros(3, 2)).item() > 0
        True
    """
    return _modality_loss(discriminator, image_outputs.detach(), text_outputs.detach(), image_target=1.0)


def modality_confusion_loss(
    discriminator: ModalityDiscriminator, image_outputs: torch.Tensor, text_outputs: torch.Tensor
) -> torch.Tensor:
    """The generators' adversarial loss: the discriminator's targets flipped (image → 0, text → 1).

    Gradients flow into the outputs (and so the modality networks); the discriminator's own parameters are not
    in the generators' optimiser, so they are left as they are.

    Example:
        >>> d = ModalityDiscriminator(2, 4)
        >>> x = torch.zeros(3, 2)
        >>> torch.isclose(modality_confusion_loss(d, x, x), discriminator_loss(d, x, x)).item()  # same inputs
        True
    """
    return _modality_loss(discriminator, image_outputs, text_outputs, image_target=0.0)


class PairDiscriminator(nn.Module):
    """MLP from an (image code, text code) pair, concatenated, to one logit: positive means "a matched pair"."""

    def __init__(self, bits: int, hidden_dim: int) -> None:
        super().__init__()
        self.layers = ModalityDiscriminator(2 * bits, hidden_dim).layers

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs (image[i], text[i]); both (..., K), broadcast against each other."""
        image, text = torch.broadcast_tensors(image, text)
        return self.layers(torch.cat([image, text], dim=-1)).squeeze(-1)


#: The readings of "a mismatched pair" that `mismatched_pairs` knows.
PAIR_MISMATCHES = ("shared_label", "no_shared_label")


def mismatched_pairs(labels: torch.Tensor, mismatch: str) -> torch.Tensor:
    """Which (image i, text j) pairs of a batch are the mismatched ones, as a (b, b) 0/1 float mask.

    The diagonal (the matched pairs) is never set. ``"shared_label"``: the pairs of two different items that share
    at least one label (the similarity S_ij = 1 of the pairwise terms); ``"no_shared_label"``: the pairs that share
    none (S_ij = 0).

    Example:
        >>> labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        >>> mismatched_pairs(labels, "shared_label").tolist()
        [[0.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
        >>> mismatched_pairs(labels, "no_shared_label").tolist()
        [[0.0, 0.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
    """
    if mismatch not in PAIR_MISMATCHES:
        raise ValueError(f"Unknown pair mismatch {mismatch!r}; choose one of {PAIR_MISMATCHES}.")
    shared = labels.float() @ labels.float().T > 0
    mask = shared if mismatch == "shared_label" else ~shared
    return (mask & ~torch.eye(labels.shape[0], dtype=torch.bool, device=labels.device)).float()


def _pair_loss(
    discriminator: PairDiscriminator, image: torch.Tensor, text: torch.Tensor, mismatched: torch.Tensor,
    matched_target: float,
) -> torch.Tensor:
    matched_logits = discriminator(image, text).float()
    all_logits = discriminator(image.unsqueeze(1), text.unsqueeze(0)).float()  # (i, j): image i with text j
    matched_term = F.binary_cross_entropy_with_logits(matched_logits, torch.full_like(matched_logits, matched_target))
    mismatched_each = F.binary_cross_entropy_with_logits(
        all_logits, torch.full_like(all_logits, 1.0 - matched_target), reduction="none"
    )
    mismatched_term = (mismatched_each * mismatched).sum() / mismatched.sum().clamp(min=1)
    return 0.5 * (matched_term + mismatched_term)


def pair_discriminator_loss(
    discriminator: PairDiscriminator, image_outputs: torch.Tensor, text_outputs: torch.Tensor,
    mismatched: torch.Tensor,
) -> torch.Tensor:
    """The pair discriminator's loss: ½ (BCE of the matched pairs → 1 + mean BCE of the ``mismatched`` pairs → 0).

    ``mismatched`` is the (b, b) mask of `mismatched_pairs`; the outputs are detached. A batch without any
    mismatched pair scores the matched half only (its other half is 0).

    Example:
        >>> d = PairDiscriminator(2, 4)
        >>> u = torch.zeros(3, 2)
        >>> logit = d(u[:1], u[:1]).item()  # every pair of equal codes gets the same logit
        >>> expected = 0.5 * (F.softplus(torch.tensor(-logit)) + F.softplus(torch.tensor(logit)))
        >>> torch.isclose(pair_discriminator_loss(d, u, u, torch.ones(3, 3) - torch.eye(3)), expected).item()
        True
    """
    return _pair_loss(discriminator, image_outputs.detach(), text_outputs.detach(), mismatched, matched_target=1.0)


def pair_confusion_loss(
    discriminator: PairDiscriminator, image_outputs: torch.Tensor, text_outputs: torch.Tensor,
    mismatched: torch.Tensor,
) -> torch.Tensor:
    """The generators' side of the pair game: the pair discriminator's targets flipped (matched → 0, mismatched → 1).

    Example:
        >>> d = PairDiscriminator(2, 4)
        >>> u, mask = torch.zeros(3, 2), torch.ones(3, 3) - torch.eye(3)
        >>> torch.isclose(pair_confusion_loss(d, u, u, mask), pair_discriminator_loss(d, u, u, mask)).item()
        True
    """
    return _pair_loss(discriminator, image_outputs, text_outputs, mismatched, matched_target=0.0)
