"""Configuration of DTH (Deep Triplet-based Hashing).

Example:
    >>> config = DTHConfig(hash_bits=16, triplet_margin=0.25, triplet_mining="hardest")
    >>> config.model_type, config.triplet_mining
    ('dth', 'hardest')
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig

#: How triplets are chosen among the valid ones of a batch (see `dth_triplet_loss`).
TRIPLET_MINING = ("all", "hardest")


class DTHConfig(CrossModalHashConfig):
    r"""
    DTH hyper-parameters. Distances are relaxed *normalised* Hamming distances ¼‖u − v‖² / K, which equal the
    Hamming distance divided by K for ±1 codes, so ``triplet_margin`` is a fraction of the code length.

    Args:
        triplet_margin (`float`, defaults to 0.25): triplet margin m (``margin`` before the renaming): the
            negative must lie at least m·K bits farther from the anchor than the positive. In (0, 1].
        triplet_mining (`str`, defaults to `"all"`): ``"all"`` averages the hinge over every valid triplet of the
            batch; ``"hardest"`` keeps, per anchor, only the farthest positive and the nearest negative
            (batch-hard).
        cross_modal_weight (`float`, defaults to 1.0): weight of the image→text and text→image triplet terms.
        intra_modal_weight (`float`, defaults to 1.0): weight of the image→image and text→text triplet terms.
        quantization_weight (`float`, defaults to 0.1): weight of mean((sign(u) − u)²), which pulls outputs to ±1.
        balance_weight (`float`, defaults to 0.1): weight of the bit-balance term mean over bits of (batch mean)².
        decorrelation_weight (`float`, defaults to 0.1): weight of the mean squared off-diagonal entry of the
            bits' batch second-moment matrix UᵀU / b.
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "dth"
    renamed_fields = {"margin": "triplet_margin"}

    triplet_margin: float = 0.25
    triplet_mining: str = "all"
    cross_modal_weight: float = 1.0
    intra_modal_weight: float = 1.0
    quantization_weight: float = 0.1
    balance_weight: float = 0.1
    decorrelation_weight: float = 0.1

    def __post_init__(self, **kwargs: Any) -> None:
        self.take_renamed_fields(kwargs)
        if self.triplet_mining not in TRIPLET_MINING:
            raise ValueError(f"triplet_mining must be one of {TRIPLET_MINING}, got {self.triplet_mining!r}.")
        if not 0 < self.triplet_margin <= 1:
            raise ValueError(
                f"triplet_margin is a fraction of the code length and must lie in (0, 1], got {self.triplet_margin}."
            )
        self.require_non_negative(
            "cross_modal_weight", "intra_modal_weight", "quantization_weight", "balance_weight", "decorrelation_weight"
        )
        super().__post_init__(**kwargs)
