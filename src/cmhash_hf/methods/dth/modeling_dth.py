"""DTH: Deep Triplet-based Hashing for cross-modal retrieval.

What is implemented (the method is known from its abstract; see ``methods.md``):

- Supervision by triplets (anchor, positive, negative) mined from the labels inside each batch: a positive shares
  at least one label with the anchor, a negative shares none (`mine_triplets`). Triplets run across modalities
  (image anchor with text positive and negative, and text anchor with image ones) and within each modality
  (image–image–image, text–text–text), so relative similarity holds between and inside the modalities.
- A margin-based triplet loss on the continuous outputs u ∈ (-1, 1)^K: hinge[d(a, p) − d(a, n) + m].
- A quantisation regulariser keeping outputs near ±1, and a bit-balance and decorrelation regulariser so each bit
  splits the data in half and bits carry different information.
- Both towers train together in one step on each batch.

Our reading where the description leaves room:

- The distance is the relaxed normalised Hamming distance d(u, v) = ¼‖u − v‖² / K, equal to the Hamming distance
  over K for ±1 codes; the margin is therefore a fraction of the code length (``triplet_margin``, default 0.25).
- Mining (``triplet_mining``): ``"all"`` averages the hinge over every valid triplet of the batch (positive and
  negative drawn from the whole batch, the anchor's own paired item counting as a cross-modal positive);
  ``"hardest"`` keeps per anchor the farthest positive and the nearest negative.
- Quantisation: mean((sign(u) − u)²). Balance: mean over bits of the squared batch mean. Decorrelation: mean squared
  off-diagonal entry of UᵀU / b. All three are taken per modality on the batch and added.
"""

from __future__ import annotations

import torch

from ...losses import quantization_loss
from ...modeling_utils import CrossModalHashPreTrainedModel
from ...training_batch import TrainingBatch
from .configuration_dth import DTHConfig
from .triplets import triplet_mask


def relaxed_hamming(first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Pairwise ¼‖u − v‖² / K between rows: the normalised Hamming distance when both hold ±1 codes.

    Example:
        >>> relaxed_hamming(torch.tensor([[1.0, 1.0]]), torch.tensor([[1.0, -1.0], [1.0, 1.0]])).tolist()
        [[0.5, 0.0]]
    """
    squared = (first**2).sum(1, keepdim=True) + (second**2).sum(1) - 2 * first @ second.T
    return squared.clamp_min(0) / (4 * first.shape[1])


def dth_triplet_loss(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    anchor_labels: torch.Tensor,
    candidate_labels: torch.Tensor,
    margin: float,
    mining: str = "all",
    exclude_self: bool = False,
) -> torch.Tensor:
    """Triplet hinge of anchors against positives and negatives drawn from ``candidates``.

    Args:
        anchors: (a, K) continuous outputs of the anchors; candidates: (c, K) those of the candidates.
        anchor_labels, candidate_labels: their multi-hot labels.
        margin: m, as a fraction of K (the distance is `relaxed_hamming`).
        mining: ``"all"``: mean of hinge[d(i, p) − d(i, n) + m] over every valid triplet; ``"hardest"``: per anchor
            with a positive and a negative, hinge[max_p d(i, p) − min_n d(i, n) + m], averaged over those anchors.
        exclude_self: anchors and candidates are the same items (see `triplet_mask`).

    Returns:
        A scalar (0, still attached to the graph, when the batch holds no valid triplet).

    Example:
        >>> u = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0]])
        >>> labels = torch.tensor([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0]])
        >>> # triplets (0, 1, 2) and (2, 1, 0), each with d(a, p) = 0.5 and d(a, n) = 1: hinge 0.5 - 1 + 0.75
        >>> dth_triplet_loss(u, u, labels, labels, margin=0.75, exclude_self=True).item()
        0.25
    """
    mask = triplet_mask(anchor_labels, candidate_labels, exclude_self)
    distances = relaxed_hamming(anchors, candidates)
    if mining == "all":
        hinge = (distances.unsqueeze(2) - distances.unsqueeze(1) + margin).clamp_min(0)
        return (hinge * mask).sum() / mask.sum().clamp_min(1)
    if mining != "hardest":
        raise ValueError(f"mining must be 'all' or 'hardest', got {mining!r}.")
    positive, negative = mask.any(2), mask.any(1)
    has_both = positive.any(1) & negative.any(1)
    farthest = distances.masked_fill(~positive, float("-inf")).amax(1)
    nearest = distances.masked_fill(~negative, float("inf")).amin(1)
    hinge = (farthest - nearest + margin).clamp_min(0)
    return torch.where(has_both, hinge, 0.0).sum() / has_both.sum().clamp_min(1)


def bit_regularizers(outputs: torch.Tensor) -> dict[str, torch.Tensor]:
    """The bit regularisers of one modality's batch outputs U (b, K).

    Quantisation mean((sign(u) − u)²) (`quantization_loss`), balance mean_k (mean_i u_ik)², decorrelation
    mean_{k≠l} ((UᵀU / b)_kl)².

    Example:
        >>> parts = bit_regularizers(torch.tensor([[1.0, 1.0], [-1.0, 1.0]]))
        >>> {name: value.item() for name, value in parts.items()}
        {'quantization': 0.0, 'balance': 0.5, 'decorrelation': 0.0}
    """
    num_items, bits = outputs.shape
    moments = outputs.T @ outputs / num_items
    off_diagonal = moments - torch.diag(moments.diagonal())
    return {
        "quantization": quantization_loss(outputs),
        "balance": (outputs.mean(0) ** 2).mean(),
        "decorrelation": (off_diagonal**2).sum() / max(bits * (bits - 1), 1),
    }


class DTHModel(CrossModalHashPreTrainedModel):
    """DTH: triplet-supervised cross-modal hashing with quantisation, balance and decorrelation regularisers.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> from cmhash_hf import DTHConfig
        >>> model = DTHModel(DTHConfig(hash_bits=8, num_classes=3))
        >>> batch = {"pixel_values": torch.randn(3, 3, 32, 32), "input_ids": torch.ones(3, 5, dtype=torch.long)}
        >>> out = model(**batch, labels=torch.tensor([[1.0, 0, 0], [1, 1, 0], [0, 0, 1]]))
        >>> out.text_codes.shape
        torch.Size([3, 8])
        >>> sorted(name.removeprefix("joint/") for name in out.loss_terms)
        ['balance', 'cross_modal', 'decorrelation', 'intra_modal', 'quantization']
    """

    config_class = DTHConfig

    def __init__(self, config: DTHConfig) -> None:
        super().__init__(config)
        self.post_init()

    def compute_loss(self, step: str, batch: TrainingBatch):
        config, labels = self.config, batch.labels
        image, text = batch.image_embeds.float(), batch.text_embeds.float()

        def triplets(anchors, candidates, exclude_self):
            return dth_triplet_loss(
                anchors, candidates, labels, labels, config.triplet_margin, config.triplet_mining, exclude_self
            )

        parts = {
            "cross_modal": triplets(image, text, False) + triplets(text, image, False),
            "intra_modal": triplets(image, image, True) + triplets(text, text, True),
        }
        image_terms, text_terms = bit_regularizers(image), bit_regularizers(text)
        parts.update({name: image_terms[name] + text_terms[name] for name in image_terms})
        total = (
            config.cross_modal_weight * parts["cross_modal"]
            + config.intra_modal_weight * parts["intra_modal"]
            + config.quantization_weight * parts["quantization"]
            + config.balance_weight * parts["balance"]
            + config.decorrelation_weight * parts["decorrelation"]
        )
        return total, {name: value.detach() for name, value in parts.items()}
