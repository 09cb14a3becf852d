"""Configuration of DRH (Deep Ranking-based Hashing).

Example:
    >>> config = DRHConfig(hash_bits=16, ranking_subspaces=4, boosting_groups=4)
    >>> config.model_type, config.ranking_subspaces
    ('drh', 4)
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig


class DRHConfig(CrossModalHashConfig):
    r"""
    DRH hyper-parameters.

    Args:
        ranking_subspaces (`int`, defaults to 4): M, the learned projections per bit (an even number ≥ 2). The bit
            is +1 when the largest of the M projections lies in the second half, −1 when in the first (the leading
            binary digit of the argmax index). M = 2 (the default before issue 13; configs saved with it keep it)
            is h(x) = argmax_k w_kᵀx mapped {0, 1} → {−1, +1}, i.e. sign((w₂ − w₁)ᵀx): a linear layer; with M ≥ 4
            the bit is sign(max of the second half − max of the first), not linear in x.
        ranking_temperature (`float`, defaults to 1.0): T of the softmax relaxation used in training: the
            continuous output is p(second half wins) − p(first half wins) = tanh((s₂ − s₁) / 2T), with s₁, s₂
            the largest projection of each half. Lower T brings it closer to the hard code; the code itself never
            depends on T.
        boosting_groups (`int`, defaults to 4): G, the groups the bits are learned in, stagewise as in boosting:
            group g is scored on the code of groups 1..g with the earlier groups' part fixed (between 1 and
            hash_bits; 1 turns boosting off).
        boosting_strength (`float`, defaults to 1.0): β of the pair weights w ∝ exp(2β · error rate of the
            earlier groups' bits on the pair); 0 weighs every pair equally.
        similarity_scale (`float`, defaults to 8.0): a, the scale of the pairwise likelihood's inner product
            Θ = a · uᵀv / k over the k bits of groups 1..g, so Θ lies in [−a, a] whatever the code length.
        intra_modal_weight (`float`, defaults to 0.1): weight of the image–image and text–text pair terms beside
            the image–text one.
        balance_weight (`float`, defaults to 1.0): weight of the bit-balance term: per boosting group, the mean over
            its bits of (batch mean of the relaxed bit)², averaged over the groups, for the image and the text
            outputs (summed). Without it the per-group likelihood turns a bit of each group into a constant offset
            of Θ (see the model docstring).
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "drh"

    ranking_subspaces: int = 4
    ranking_temperature: float = 1.0
    boosting_groups: int = 4
    boosting_strength: float = 1.0
    similarity_scale: float = 8.0
    intra_modal_weight: float = 0.1
    balance_weight: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        subspaces = self.ranking_subspaces
        if isinstance(subspaces, bool) or not isinstance(subspaces, int) or subspaces < 2 or subspaces % 2:
            raise ValueError(f"ranking_subspaces must be an even integer of at least 2, got {subspaces!r}.")
        if not self.ranking_temperature > 0:
            raise ValueError(f"ranking_temperature must be positive, got {self.ranking_temperature}.")
        groups = self.boosting_groups
        if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
            raise ValueError(f"boosting_groups must be a positive integer, got {groups!r}.")
        if self.boosting_strength < 0 or self.intra_modal_weight < 0 or not self.similarity_scale > 0:
            raise ValueError(
                "boosting_strength and intra_modal_weight must be non-negative, similarity_scale positive."
            )
        if not self.balance_weight >= 0:
            raise ValueError(f"balance_weight must be non-negative, got {self.balance_weight}.")
        super().__post_init__(**kwargs)
        if isinstance(self.hash_bits, int) and groups > self.hash_bits:
            raise ValueError(f"boosting_groups ({groups}) cannot exceed hash_bits ({self.hash_bits}).")
