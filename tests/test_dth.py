"""What makes DTH DTH: triplets mined from labels, the triplet hinge and the bit regularisers by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cmhash_hf import DTHConfig
from cmhash_hf.methods.dth import bit_regularizers, dth_triplet_loss, mine_triplets
from method_cases import tiny_batch, tiny_model

# items 0..3: {0}, {0, 1}, {2}, {1}
LABELS = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]])


def _check_label_conditions(triplets, anchor_labels, candidate_labels):
    for anchor, positive, negative in triplets.tolist():
        assert (anchor_labels[anchor] * candidate_labels[positive]).sum() > 0
        assert (anchor_labels[anchor] * candidate_labels[negative]).sum() == 0


def test_within_a_modality_every_valid_triplet_is_mined_and_the_anchor_is_not_its_own_positive():
    triplets = mine_triplets(LABELS, LABELS, exclude_self=True)
    _check_label_conditions(triplets, LABELS, LABELS)
    expected = {(0, 1, 2), (0, 1, 3), (1, 0, 2), (1, 3, 2), (3, 1, 0), (3, 1, 2)}  # item 2 has no positive
    assert set(map(tuple, triplets.tolist())) == expected and len(triplets) == len(expected)


def test_across_modalities_the_paired_item_is_a_positive_and_unlabelled_items_are_negatives():
    texts = torch.cat([LABELS[:2], torch.zeros(1, 3)])  # text 2 has no label
    triplets = mine_triplets(LABELS[:2], texts, exclude_self=False)
    _check_label_conditions(triplets, LABELS[:2], texts)
    assert set(map(tuple, triplets.tolist())) == {(0, 0, 2), (0, 1, 2), (1, 0, 2), (1, 1, 2)}


def test_triplet_loss_matches_a_hand_computation():
    codes = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [0.0, 1.0]])
    distance = lambda i, j: ((codes[i] - codes[j]) ** 2).sum().item() / 8  # noqa: E731  ¼‖u − v‖² / K
    triplets = [(0, 1, 2), (0, 1, 3), (1, 0, 2), (1, 3, 2), (3, 1, 0), (3, 1, 2)]
    hinges = [max(distance(a, p) - distance(a, n) + 0.5, 0.0) for a, p, n in triplets]
    loss = dth_triplet_loss(codes, codes, LABELS, LABELS, margin=0.5, mining="all", exclude_self=True)
    assert math.isclose(loss.item(), sum(hinges) / 6, rel_tol=1e-6)
    # hardest: anchor 0: farthest positive 1, nearest negative 3; anchor 1: positives {0, 3}, negative 2; anchor 3
    hardest = [
        max(distance(0, 1) - min(distance(0, 2), distance(0, 3)) + 0.5, 0.0),
        max(max(distance(1, 0), distance(1, 3)) - distance(1, 2) + 0.5, 0.0),
        max(distance(3, 1) - min(distance(3, 0), distance(3, 2)) + 0.5, 0.0),
    ]
    loss = dth_triplet_loss(codes, codes, LABELS, LABELS, margin=0.5, mining="hardest", exclude_self=True)
    assert math.isclose(loss.item(), sum(hardest) / 3, rel_tol=1e-6)


def test_a_batch_without_triplets_gives_zero_loss_with_a_graph():
    codes = torch.randn(2, 4, requires_grad=True)
    loss = dth_triplet_loss(codes, codes, torch.eye(2), torch.eye(2), margin=0.25, exclude_self=True)
    assert loss.item() == 0.0
    loss.backward()


def test_bit_regularizers_match_a_hand_computation():
    u = torch.tensor([[0.5, -1.0, 1.0], [-0.5, 1.0, 1.0]])
    parts = bit_regularizers(u)
    assert math.isclose(parts["quantization"].item(), (0.25 + 0.25) / 6, rel_tol=1e-6)
    assert math.isclose(parts["balance"].item(), (0 + 0 + 1) / 3, rel_tol=1e-6)
    moments = u.T @ u / 2  # off-diagonal entries: (0,1) = -0.5, (0,2) = 0, (1,2) = 0
    assert math.isclose(moments[0, 1].item(), -0.5, rel_tol=1e-6)
    assert math.isclose(parts["decorrelation"].item(), 2 * 0.25 / 6, rel_tol=1e-6)


def test_model_loss_is_the_weighted_sum_of_its_parts():
    weights = {"cross_modal_weight": 2.0, "intra_modal_weight": 0.5, "quantization_weight": 0.3,
               "balance_weight": 0.7, "decorrelation_weight": 1.5}
    model = tiny_model("dth", **weights)
    out = model(**tiny_batch(), training_step="joint")
    expected = sum(weight * out.loss_terms[name.removesuffix("_weight")] for name, weight in weights.items())
    assert torch.isclose(out.loss, expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"triplet_mining": "semi"}, "triplet_mining must be one of"), ({"triplet_margin": 0.0}, "triplet_margin is a fraction"),
     ({"balance_weight": -1.0}, "balance_weight=-1.0: DTHConfig needs these non-negative")],
)
def test_invalid_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DTHConfig(**kwargs)


def _independent_dth_parts(u, v, labels, margin):
    """DTH's five parts written out with loops over the batch (no library code), for checking the model's."""
    bits = u.shape[1]
    shares = lambda i, j: bool((labels[i] * labels[j]).sum() > 0)  # noqa: E731

    def distance(a, b):
        return float(((a - b) ** 2).sum()) / (4 * bits)

    def triplets(anchors, candidates, exclude_self):
        hinges = [
            max(distance(anchors[i], candidates[p]) - distance(anchors[i], candidates[n]) + margin, 0.0)
            for i in range(len(anchors)) for p in range(len(candidates)) for n in range(len(candidates))
            if shares(i, p) and not shares(i, n) and not (exclude_self and p == i)
        ]
        return sum(hinges) / max(len(hinges), 1)

    def regularizers(x):
        n = x.shape[0]
        quantization = sum(float((1.0 if value >= 0 else -1.0) - value) ** 2 for value in x.flatten()) / x.numel()
        balance = sum(float(x[:, k].mean()) ** 2 for k in range(bits)) / bits
        moments = [[float((x[:, k] * x[:, m]).sum()) / n for m in range(bits)] for k in range(bits)]
        decorrelation = sum(moments[k][m] ** 2 for k in range(bits) for m in range(bits) if k != m) / (bits * (bits - 1))
        return quantization, balance, decorrelation

    (qu, bu, du), (qv, bv, dv) = regularizers(u), regularizers(v)
    return {
        "cross_modal": triplets(u, v, False) + triplets(v, u, False),
        "intra_modal": triplets(u, u, True) + triplets(v, v, True),
        "quantization": qu + qv,
        "balance": bu + bv,
        "decorrelation": du + dv,
    }


def test_model_loss_term_by_term_against_an_independent_computation():
    """Each part from the model's outputs by loops, and the total with distinct weights: dropping, zeroing or
    flipping any term (in the parts or in the total) changes one of these numbers."""
    weights = {"cross_modal_weight": 1.3, "intra_modal_weight": 0.6, "quantization_weight": 0.4,
               "balance_weight": 2.5, "decorrelation_weight": 1.7}
    model = tiny_model("dth", triplet_margin=0.3, **weights)
    batch = tiny_batch()
    out = model(**batch, training_step="joint")
    parts = _independent_dth_parts(out.image_embeds.detach(), out.text_embeds.detach(), batch["labels"], 0.3)
    assert all(value > 0 for value in parts.values())  # every term is live in this batch
    for name, value in parts.items():
        assert math.isclose(out.loss_terms[name].item(), value, rel_tol=1e-4), name
    total = sum(weights[f"{name}_weight"] * value for name, value in parts.items())
    assert math.isclose(out.loss.item(), total, rel_tol=1e-4)
