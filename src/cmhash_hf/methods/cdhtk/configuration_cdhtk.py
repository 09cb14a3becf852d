"""Configuration of CDHTK (Cross-Modal Dual Hashing based on Transfer Knowledge, Acta Electronica Sinica 2025).

Example:
    >>> CDHTKConfig(hash_bits=16, transfer_dim=64).model_type
    'cdhtk'
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig


class CDHTKConfig(CrossModalHashConfig):
    r"""
    CDHTK hyper-parameters (the paper's values are not public; the defaults are our choice,
    checked on builtin:shapes).

    Args:
        transfer_hidden_dim (`int`, defaults to 256): width of the transfer network's adapters, completion layers
            and shared layer.
        transfer_dim (`int`, defaults to 128): width of the transferred knowledge vector that feeds the codes.
        classification_weight (`float`, defaults to 0.2): weight of the label-prediction cross-entropy.
        triplet_weight (`float`, defaults to 1.0): weight of the cross-modal triplet loss on the fused codes.
        triplet_margin (`float`, defaults to 0.25): margin of the triplet loss, in fractions of differing bits.
        quantization_weight (`float`, defaults to 0.01): weight of ‖sign(H) − H‖² (mean) on the fused codes H.
        balance_weight (`float`, defaults to 1.0): weight of the bit-balance term ‖mean over the batch of H‖² (mean
            over bits), which keeps the triplet loss from collapsing all codes onto one.
        differential_weight (`float`, defaults to 0.001): weight of the differential loss (squared correlations
            between the specific and the transferred code over the batch, `differential_loss`) that keeps the
            transferred code from duplicating the modality-specific code. On Wiki (32 bits, 100 epochs, seed 0)
            0.001 / 0.01 gave mAP 0.329 / 0.724 and 0.293 / 0.727 (image→text / text→image): the decorrelation
            costs image→text retrieval there, hence the small default.
        agreement_weight (`float`, defaults to 1.0): weight of ‖T(image) − T(text)‖² (mean) over the pairs: the
            knowledge the transfer network gives from the image of a pair and from its text are pulled together,
            so each modality's code carries the knowledge its partner would give.
        completion_weight (`float`, defaults to 1.0): weight of the completion loss ‖c_T(a_I) − a_T‖² + ‖c_I(a_T)
            − a_I‖² (means; the real adapted vectors a as fixed targets): each completion layer learns to predict
            the other modality's adapted vector of the pair from the present one's.
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "cdhtk"

    transfer_hidden_dim: int = 256
    transfer_dim: int = 128
    classification_weight: float = 0.2
    triplet_weight: float = 1.0
    triplet_margin: float = 0.25
    quantization_weight: float = 0.01
    balance_weight: float = 1.0
    differential_weight: float = 0.001
    agreement_weight: float = 1.0
    completion_weight: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        if self.transfer_hidden_dim < 1 or self.transfer_dim < 1:
            raise ValueError("transfer_hidden_dim and transfer_dim must be positive.")
        self.require_non_negative(
            "classification_weight", "triplet_weight", "triplet_margin", "quantization_weight", "balance_weight",
            "differential_weight", "agreement_weight", "completion_weight",
        )
        super().__post_init__(**kwargs)
