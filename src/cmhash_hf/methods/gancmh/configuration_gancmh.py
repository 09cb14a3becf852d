"""Configuration of GANCMH (Generative Adversarial Networks for Cross-Modal Hashing).

Example:
    >>> GANCMHConfig(hash_bits=16, adversarial_weight=0.1).model_type
    'gancmh'
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig
from ..adversarial import PAIR_MISMATCHES


class GANCMHConfig(CrossModalHashConfig):
    r"""
    GANCMH hyper-parameters (the paper gives no values; the defaults are our choice,
    checked on builtin:shapes).

    Args:
        label_hidden_dim (`int`, defaults to 512): hidden width of the label network (multi-hot labels → codes).
        discriminator_hidden_dim (`int`, defaults to 128): hidden width of the modality discriminator.
        adversarial_weight (`float`, defaults to 0.1): weight α of the generators' modality-confusion loss.
        intra_modal_weight (`float`, defaults to 1.0): weight of the intra-modality pairwise likelihood
            (image–image, text–text; ``intra_weight`` before the renaming); the inter-modality one (image–text)
            has weight 1.
        label_guidance_weight (`float`, defaults to 1.0): weight of the pairwise likelihood between each
            modality's outputs and the label network's codes (``label_weight`` before the renaming).
        quantization_weight (`float`, defaults to 0.1): weight of ‖sign(label codes) − outputs‖² (mean), which
            pulls both modalities onto the label network's binary codes.
        pair_adversarial_weight (`float`, defaults to 0.1): weight of the generators' side of the pair game (the
            pair discriminator's targets flipped); 0 leaves the pair discriminator training but without effect on
            the codes.
        pair_mismatch (`str`, defaults to ``"shared_label"``): which (image, text) pairs of a batch the pair
            discriminator tells from the matched ones: ``"shared_label"`` (two different items sharing a label) or
            ``"no_shared_label"`` (two items sharing none); see `cmhash_hf.methods.adversarial.mismatched_pairs`
            and the model's docstring for why the default.
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "gancmh"
    renamed_fields = {"intra_weight": "intra_modal_weight", "label_weight": "label_guidance_weight"}

    label_hidden_dim: int = 512
    discriminator_hidden_dim: int = 128
    adversarial_weight: float = 0.1
    intra_modal_weight: float = 1.0
    label_guidance_weight: float = 1.0
    quantization_weight: float = 0.1
    pair_adversarial_weight: float = 0.1
    pair_mismatch: str = "shared_label"

    def __post_init__(self, **kwargs: Any) -> None:
        self.take_renamed_fields(kwargs)
        if self.label_hidden_dim < 1 or self.discriminator_hidden_dim < 1:
            raise ValueError("label_hidden_dim and discriminator_hidden_dim must be positive.")
        self.require_non_negative(
            "adversarial_weight", "intra_modal_weight", "label_guidance_weight", "quantization_weight",
            "pair_adversarial_weight",
        )
        if self.pair_mismatch not in PAIR_MISMATCHES:
            raise ValueError(f"pair_mismatch must be one of {PAIR_MISMATCHES}, got {self.pair_mismatch!r}.")
        super().__post_init__(**kwargs)
