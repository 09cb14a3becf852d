"""`CrossModalHashOutput`: what every method's `forward` returns.

Example:
    >>> import torch
    >>> out = CrossModalHashOutput(image_codes=torch.ones(1, 8, dtype=torch.int8))
    >>> out.image_codes.shape
    torch.Size([1, 8])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from transformers.utils import ModelOutput


@dataclass
class CrossModalHashOutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor` of shape `()`, *optional*): the training loss of the step that was asked for.
        image_embeds (`torch.FloatTensor` of shape `(batch, hash_bits)`, *optional*): continuous image outputs.
        text_embeds (`torch.FloatTensor` of shape `(batch, hash_bits)`, *optional*): continuous text outputs.
        image_codes (`torch.CharTensor` of shape `(batch, hash_bits)`, *optional*): image codes in {-1, +1}.
        text_codes (`torch.CharTensor` of shape `(batch, hash_bits)`, *optional*): text codes in {-1, +1}.
        loss_terms (`dict[str, torch.Tensor]`, *optional*): the named parts of the loss, detached, for logging.
    """

    loss: torch.FloatTensor | None = None
    image_embeds: torch.FloatTensor | None = None
    text_embeds: torch.FloatTensor | None = None
    image_codes: torch.Tensor | None = None
    text_codes: torch.Tensor | None = None
    loss_terms: dict | None = None
