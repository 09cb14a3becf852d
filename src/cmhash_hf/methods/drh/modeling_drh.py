"""DRH: Deep Ranking-based Hashing for cross-modal retrieval.

What is implemented (the method is known from its abstract; see ``methods.md``):

- Features and hash codes learned end to end: each tower ends in a ranking-based hash function
  (`RankingHashLayer`): every bit has M learned linear projections of the features and says which is largest,
  as in linear subspace ranking hashing, h(x) = argmax_k w_kᵀx. Training uses its softmax relaxation.
- A pairwise loss reduces the modality gap: the negative log-likelihood of the label similarity S_ij (items share
  a label) given the inner product of the relaxed codes, on image–text pairs and on image–image and text–text
  pairs of the batch.
- Boosting reduces redundancy between bits: the bits are learned in groups, and each group's pairs are
  re-weighted, AdaBoost-style, towards the pairs that the bits of the earlier groups get wrong
  (`boosting_weights`).

Our reading where the description leaves room:

- Binary bits from M > 2 projections: +1 when the argmax lies in the second half of the M projections, −1 in the
  first, i.e. the leading binary digit of the argmax index; M = 4 by default. The ranking family needs M > 2:
  with M = 2 the bit is sign((w₂ − w₁)ᵀx + b₂ − b₁), a linear layer with a tanh in training. With M = 4 it is
  sign(max(s₃, s₄) − max(s₁, s₂)): it still depends on the projections only through which one is largest (the
  ranking property: any increasing map of the scores leaves it unchanged), and its decision boundary is piecewise
  linear, not a hyperplane. We keep one bit per argmax rather than log₂ M bits of the argmax index, so
  ``ranking_subspaces`` does not change the code length or the bits' meaning (each bit has its own M
  projections). The relaxation is the softmax over the two halves' largest projections at temperature T,
  p(second) − p(first) = tanh((s₂ − s₁) / 2T) with s₁, s₂ the halves' maxima; its sign is exactly the argmax
  code, so `encode_image` / `encode_text` (the sign of the continuous output) return the ranking codes without a
  separate code path, and ``forward``'s codes agree with them. (A softmax over all M projections would give
  every projection a gradient, but its sign, log-sum-exp of one half against the other, is not the argmax code.)
- Boosting inside each batch, not across epochs, and stagewise, as boosting adds weak learners to the ones
  before: with G groups of bits (``boosting_groups``), group g is scored on the code made of groups 1..g, the
  earlier groups' inner products fixed (no gradient), Θ_g = a · (u_{<g}ᵀv_{<g} + u_gᵀv_g) / k_{≤g}
  (``similarity_scale`` a, k_{≤g} the bits of groups 1..g), so group g learns from the pairs the earlier groups
  leave wrong; and, AdaBoost-style, its pairs are also weighted by w_ij ∝ exp(2β · fraction of the bits of groups
  < g that are wrong on the pair), from the current hard codes of those bits (no gradient through the weights).
  Pair weights over the whole training set (N² of them) would not fit in memory on real datasets, and per-batch
  weights follow the earlier bits as they change. All groups train together. The loss of a group is softplus(Θ)
  − S·Θ averaged with the boosting weights; the loss is the mean over groups, image–text plus
  ``intra_modal_weight`` × (image–image + text–text). Intra-modal pairs include each item with itself.
- A bit-balance term (``balance_weight``, `drh_balance_loss`), per group like the likelihood: the mean over the
  group's bits of (batch mean of the relaxed bit)², averaged over groups, for image and text outputs. Without it
  (before issue 13) one bit per group became constant on Wiki: most pairs are dissimilar, and an image bit fixed
  at +1 with the text bit fixed at −1 adds −a/k to every image–text Θ of the group, a learned bias that lowers
  the likelihood of all the dissimilar pairs at once and carries no information.

Measured on Wiki (``benchmarks/drh_bits.py``: the Wiki benchmark's split and training settings, 16 bits, seed 0;
constant bits and the mean |correlation| between different bits are over the 2,173 training items' codes,
image / text, constant bits left out of the correlation; "between groups" counts only pairs of bits in different
quarters of the code, the default boosting groups; mAP on the 693 test queries):

| code | epochs | boosting | constant bits | mean abs corr | between groups | mAP image→text | mAP text→image |
|---|---|---|---|---|---|---|---|
| M = 2, no balance term (before issue 13) | 40 | on (4 groups) | 3 / 2 | 0.215 / 0.279 | 0.237 / 0.303 | 0.262 | 0.462 |
| M = 2, no balance term (before issue 13) | 40 | off (1 group) | 3 / 0 | 0.176 / 0.238 | 0.174 / 0.243 | 0.270 | 0.512 |
| M = 4, balance, pair weights only | 40 | on (4 groups) | 0 / 0 | 0.235 / 0.247 | 0.249 / 0.257 | 0.266 | 0.450 |
| M = 4, balance, pair weights only | 100 | on (4 groups) | 0 / 0 | 0.355 / 0.278 | 0.372 / 0.302 | 0.268 | 0.466 |
| M = 4, balance, stagewise + weights (now) | 40 | on (4 groups) | 0 / 0 | 0.205 / 0.231 | 0.204 / 0.231 | 0.224 | 0.387 |
| M = 4, balance, stagewise + weights (now) | 100 | on (4 groups) | 0 / 0 | 0.214 / 0.226 | 0.231 / 0.232 | 0.267 | 0.524 |
| M = 4, balance (boosting off is the same in both readings) | 40 | off (1 group) | 0 / 0 | 0.239 / 0.232 | 0.235 / 0.239 | 0.285 | 0.488 |
| M = 4, balance (boosting off is the same in both readings) | 100 | off (1 group) | 0 / 0 | 0.287 / 0.241 | 0.284 / 0.245 | 0.297 | 0.611 |

The balance term removes the constant bits. With pair weights alone (each group's likelihood asking its k bits
alone to reproduce the whole similarity) the groups learned similar codes: boosting *raised* the correlation
between groups (0.372 / 0.302 against 0.284 / 0.245 without boosting at 100 epochs), and stronger weights were
no cure (β = 4 at 40 epochs: 0.241 / 0.208 between groups, mAP 0.169 / 0.245). Stagewise, a group adds to what
the earlier ones give, and boosting lowers the correlation between groups below boosting off (0.231 / 0.232
against 0.284 / 0.245 at 100 epochs) and retrieves better than pair weights alone (0.267 / 0.524 against 0.268 /
0.466). Stagewise without the pair weights (β = 0, 40 epochs) did not decorrelate (0.287 / 0.304 between groups,
mAP 0.281 / 0.459). On this dataset boosting costs mAP against one group trained on the whole code (0.297 /
0.611): fewer redundant bits is what boosting buys, not retrieval on Wiki's 10 classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...losses import label_similarity
from ...modeling_utils import CrossModalHashPreTrainedModel, binarize
from ...training_batch import TrainingBatch
from .boosting import boosting_weights
from .configuration_drh import DRHConfig
from .ranking import RankingHashLayer


def drh_balance_loss(outputs: torch.Tensor, groups: int) -> torch.Tensor:
    """Bit balance per boosting group: mean over groups of the mean over the group's bits of (batch mean)².

    Args:
        outputs: (n, K) relaxed codes; groups: G, the contiguous groups of `drh_pair_loss` (sizes differ by one).

    Example:
        >>> u = torch.tensor([[1.0, 1.0, -1.0], [1.0, -1.0, -1.0]])
        >>> # group 1 (bits 0, 1): bit means 1 and 0 -> (1 + 0) / 2; group 2 (bit 2): mean -1 -> 1; mean 0.75
        >>> drh_balance_loss(u, groups=2).item()
        0.75
    """
    return torch.stack([(group.mean(0) ** 2).mean() for group in outputs.tensor_split(groups, dim=1)]).mean()


def drh_pair_loss(
    first: torch.Tensor,
    second: torch.Tensor,
    similarity: torch.Tensor,
    groups: int,
    scale: float,
    strength: float,
) -> torch.Tensor:
    """Boosted pairwise likelihood between two sets of relaxed codes, averaged over the groups of bits.

    Stagewise, as boosting adds weak learners: group g is scored on the code made of groups 1..g, with the
    inner product of the earlier groups fixed (detached), Θ_g = a · (u_{<g}ᵀv_{<g} + u_gᵀv_g) / k_{≤g}, so its
    gradient comes from the pairs the earlier groups leave wrong (a pair they already get right has a saturated
    likelihood), and its pairs are also weighted by `boosting_weights` (AdaBoost's exponential weights from the
    earlier groups' hard codes). The last group's Θ is the whole code's.

    Args:
        first: (a, K) and second: (b, K) relaxed codes; similarity: (a, b) S in {0, 1}.
        groups: G; the bits are split into G contiguous groups (sizes differ by at most one).
        scale: a of Θ = a · uᵀv / k over the k bits of groups 1..g.
        strength: β of `boosting_weights`, computed for group g from the hard codes of the bits before it.

    Example:
        >>> u = torch.tensor([[1.0, -1.0]]); v = torch.tensor([[1.0, 1.0]])
        >>> s = torch.tensor([[1.0]])
        >>> # group 1 (bit 0): Θ = 2 · 1 / 1 = 2, loss softplus(2) - 2 = 0.1269;
        >>> # group 2 (bit 1): Θ = 2 · (1 - 1) / 2 = 0, loss softplus(0) = 0.6931 (one pair: its weight is 1); mean
        >>> round(drh_pair_loss(u, v, s, groups=2, scale=2.0, strength=1.0).item(), 4)
        0.41
    """
    losses, start = [], 0
    for first_group, second_group in zip(first.tensor_split(groups, dim=1), second.tensor_split(groups, dim=1)):
        weights = boosting_weights(
            binarize(first[:, :start]).float(), binarize(second[:, :start]).float(), similarity, strength
        )
        # stagewise: group g is scored on the code so far, the earlier groups' inner products fixed (no gradient)
        earlier_product = (first[:, :start] @ second[:, :start].T).detach()
        end = start + first_group.shape[1]
        theta = scale * (earlier_product + first_group @ second_group.T) / end
        losses.append((weights * (F.softplus(theta) - similarity * theta)).mean())
        start = end
    return torch.stack(losses).mean()


class DRHModel(CrossModalHashPreTrainedModel):
    """DRH: ranking-based hash functions (argmax of learned projections) with a boosted pairwise loss.

    The loss is cross_modal + ``intra_modal_weight`` · intra_modal + ``balance_weight`` · balance (parts named so in
    ``loss_terms``).

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> from cmhash_hf import DRHConfig
        >>> model = DRHModel(DRHConfig(hash_bits=8, num_classes=3, ranking_subspaces=4))
        >>> model.image_hash.scores(torch.zeros(1, model.image_tower.output_dim)).shape
        torch.Size([1, 8, 4])
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> out = model(**batch, labels=torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
        >>> out.image_codes.shape, sorted(out.loss_terms)
        (torch.Size([2, 8]), ['joint/balance', 'joint/cross_modal', 'joint/intra_modal'])
    """

    config_class = DRHConfig

    def __init__(self, config: DRHConfig) -> None:
        super().__init__(config)
        self.post_init()

    def build_hash_layer(self, input_dim: int) -> nn.Module:
        config = self.config
        return RankingHashLayer(input_dim, config.hash_bits, config.ranking_subspaces, config.ranking_temperature)

    def compute_loss(self, step: str, batch: TrainingBatch):
        config = self.config
        image, text = batch.image_embeds.float(), batch.text_embeds.float()
        similarity = label_similarity(batch.labels, batch.labels)

        def pairs(first, second):
            return drh_pair_loss(
                first, second, similarity, config.boosting_groups, config.similarity_scale, config.boosting_strength
            )

        parts = {
            "cross_modal": pairs(image, text),
            "intra_modal": pairs(image, image) + pairs(text, text),
            "balance": drh_balance_loss(image, config.boosting_groups) + drh_balance_loss(text, config.boosting_groups),
        }
        total = (
            parts["cross_modal"]
            + config.intra_modal_weight * parts["intra_modal"]
            + config.balance_weight * parts["balance"]
        )
        return total, {name: value.detach() for name, value in parts.items()}
