"""The modality discriminator and the two sides of its game, shared by the adversarial methods (GANCMH, DFAH).

The discriminator scores how image-like a (continuous) code is; the generators (the modality networks) are
trained with the flipped targets (the non-saturating GAN loss), so the two losses pull in opposite directions:
every discriminator step makes image and text outputs easier to tell apart, every generator step harder.

Example:
    >>> import torch
    >>> discriminator = ModalityDiscriminator(input_dim=8, hidden_dim=16)
    >>> image, text = torch.randn(4, 8), torch.randn(4, 8)
    >>> discriminator(image).shape, discriminator_loss(discriminator, image, text).dim()
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
