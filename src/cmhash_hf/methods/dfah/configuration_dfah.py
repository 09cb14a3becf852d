"""Configuration of DFAH (Discrete Fusion Adversarial Hashing).

Example:
    >>> DFAHConfig(hash_bits=16, quantization_weight=0.5).model_type
    'dfah'
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig


class DFAHConfig(CrossModalHashConfig):
    r"""
    DFAH hyper-parameters (the method's description gives no values; the defaults are our choice,
    checked on builtin:shapes).

    Args:
        fusion_hidden_dim (`int`, defaults to 256): hidden width of the fusion learner ([U; V] → unified output Z).
        discriminator_hidden_dim (`int`, defaults to 128): hidden width of the modality discriminator.
        adversarial_weight (`float`, defaults to 0.01): weight α of the extractors' modality-confusion loss (was
            0.1; see ``unified_weight``).
        fusion_weight (`float`, defaults to 1.0): weight of the pairwise likelihood of the fused outputs L(Z, Z).
        quantization_weight (`float`, defaults to 1.0): weight γ of ‖B − U‖² and ‖B − V‖² (mean), and of U + V in
            the discrete step (``gamma`` before the renaming).
        fusion_quantization_weight (`float`, defaults to 1.0): weight μ of ‖B − Z‖² (mean), and of Z in the
            discrete step B = sign(γ(U + V) + μZ) (``mu`` before the renaming).
        unified_weight (`float`, defaults to 0.1): weight of the pairwise likelihood of each modality's outputs
            against the unified codes of the whole training set, L(U, B) + L(V, B). Its logits ½uᵀb grow with
            the code length against ±1 codes: on Wiki at 64 bits the former defaults (1.0, with
            ``adversarial_weight`` 0.1) collapsed every run to chance level; 0.1 with ``adversarial_weight`` 0.01
            trained best (chosen on a validation split at 64 bits, see benchmarks/wiki.py) and is the default
            since: it trains far above chance at 16, 32, 64 and 128 bits on Wiki and builtin:shapes (the table in
            `cmhash_hf.methods.dfah.modeling_dfah`).
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "dfah"
    renamed_fields = {"gamma": "quantization_weight", "mu": "fusion_quantization_weight"}

    fusion_hidden_dim: int = 256
    discriminator_hidden_dim: int = 128
    adversarial_weight: float = 0.01
    fusion_weight: float = 1.0
    quantization_weight: float = 1.0
    fusion_quantization_weight: float = 1.0
    unified_weight: float = 0.1

    def __post_init__(self, **kwargs: Any) -> None:
        self.take_renamed_fields(kwargs)
        if self.fusion_hidden_dim < 1 or self.discriminator_hidden_dim < 1:
            raise ValueError("fusion_hidden_dim and discriminator_hidden_dim must be positive.")
        self.require_non_negative(
            "adversarial_weight", "fusion_weight", "quantization_weight", "fusion_quantization_weight", "unified_weight"
        )
        if self.quantization_weight + self.fusion_quantization_weight == 0:
            raise ValueError(
                "quantization_weight and fusion_quantization_weight cannot both be 0: the discrete step "
                "B = sign(γ(U + V) + μZ) needs one."
            )
        super().__post_init__(**kwargs)
