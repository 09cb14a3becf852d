"""What makes DRH DRH: codes from the argmax of learned projections, the relaxation, boosting weights by hand."""

from __future__ import annotations

import math

import pytest
import torch

from cmhash_hf import DRHConfig
from cmhash_hf.methods.drh import RankingHashLayer, boosting_weights, drh_pair_loss
from method_cases import HASH_BITS, tiny_batch, tiny_model


@pytest.mark.parametrize("subspaces", [2, 4])
def test_codes_are_the_argmax_of_the_projections(subspaces):
    model = tiny_model("drh", ranking_subspaces=subspaces)
    batch = tiny_batch(seed=1)
    seen = []
    model.image_hash.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    codes = model.encode_image(pixel_values=batch["pixel_values"])
    projection = model.image_hash.projection
    scores = (seen[0] @ projection.weight.T + projection.bias).reshape(-1, HASH_BITS, subspaces)
    expected = torch.where(scores.argmax(-1) >= subspaces // 2, 1, -1).to(torch.int8)
    assert torch.equal(codes, expected)
    assert len(set(codes.flatten().tolist())) == 2  # not a degenerate all-equal check


def test_relaxed_outputs_approach_the_hard_codes_as_the_temperature_falls():
    torch.manual_seed(0)
    features = torch.randn(8, 6)
    reference = RankingHashLayer(6, hash_bits=5, subspaces=4, temperature=1.0)
    hard = None
    gaps = []
    for temperature in (1.0, 0.1, 0.01, 0.0001):
        layer = RankingHashLayer(6, hash_bits=5, subspaces=4, temperature=temperature)
        layer.load_state_dict(reference.state_dict())
        relaxed = layer(features)
        assert relaxed.abs().max() <= 1
        hard = torch.where(layer.scores(features).argmax(-1) >= 2, 1.0, -1.0)
        assert torch.equal(torch.where(relaxed >= 0, 1.0, -1.0), hard)  # the sign is the hard code at any T
        gaps.append((relaxed - hard).abs().max().item())
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 0.1 and gaps[-1] < 1e-3


def test_boosting_weights_grow_for_pairs_the_earlier_bits_got_wrong():
    earlier = torch.tensor([[1.0, 1.0], [1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
    similarity = torch.tensor([[1.0, 1.0, 1.0, 0.0]])  # item 0 against items 0..3
    weights = boosting_weights(earlier[:1], earlier, similarity, strength=1.0)
    # error rates: pair (0,0) and (0,1) 0, (0,2) 1 (similar, both bits differ), (0,3) 1/2 (dissimilar, one agrees)
    raw = torch.exp(2 * torch.tensor([[0.0, 0.0, 1.0, 0.5]]))
    assert torch.allclose(weights, raw / raw.mean())
    assert weights[0, 2] > weights[0, 3] > weights[0, 0] == weights[0, 1]
    assert torch.equal(boosting_weights(earlier[:1], earlier, similarity, strength=0.0), torch.ones(1, 4))
    assert torch.equal(boosting_weights(earlier[:1, :0], earlier[:, :0], similarity, 1.0), torch.ones(1, 4))


def test_pair_loss_weights_later_groups_by_the_earlier_groups_mistakes():
    u = torch.tensor([[1.0, 0.5], [1.0, -0.5]])
    v = torch.tensor([[-1.0, 0.5], [1.0, 0.5]])
    similarity = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = drh_pair_loss(u, v, similarity, groups=2, scale=3.0, strength=1.0)
    nll = lambda theta, s: math.log1p(math.exp(theta)) - s * theta  # noqa: E731
    pairs = [(i, j) for i in range(2) for j in range(2)]
    first = sum(nll(3.0 * u[i, 0].item() * v[j, 0].item(), similarity[i, j].item()) for i, j in pairs) / 4
    # bit 0 is wrong on (0, 0) (similar, differs) and on (0, 1) (dissimilar, agrees), right on (1, 0) and (1, 1)
    raw = [[math.e**2, math.e**2], [1.0, 1.0]]
    mean = sum(map(sum, raw)) / 4
    second = sum(
        raw[i][j] / mean * nll(3.0 * u[i, 1].item() * v[j, 1].item(), similarity[i, j].item())
        for i, j in pairs
    ) / 4
    assert math.isclose(loss.item(), (first + second) / 2, rel_tol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"ranking_subspaces": 3}, "ranking_subspaces must be an even integer"),
     ({"ranking_temperature": 0.0}, "ranking_temperature must be positive"),
     ({"hash_bits": 8, "boosting_groups": 9}, r"boosting_groups \(9\) cannot exceed hash_bits \(8\)")],
)
def test_invalid_settings_are_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DRHConfig(**kwargs)


def _independent_pair_loss(u, v, similarity, groups, scale, strength):
    """The boosted pairwise likelihood written out group by group (plain torch), for checking the model's."""
    bits = u.shape[1]
    sizes = [bits // groups + (1 if g < bits % groups else 0) for g in range(groups)]
    hard_u, hard_v = torch.where(u >= 0, 1.0, -1.0), torch.where(v >= 0, 1.0, -1.0)
    losses, start = [], 0
    for size in sizes:
        if start == 0:
            weights = torch.ones_like(similarity)
        else:
            agreement = hard_u[:, :start] @ hard_v[:, :start].T / start  # earlier bits voting "similar"
            wrong = (1 - (2 * similarity - 1) * agreement) / 2
            weights = torch.exp(2 * strength * wrong)
            weights = weights / weights.mean()
        theta = scale * u[:, start:start + size] @ v[:, start:start + size].T / size
        losses.append((weights * (torch.log1p(torch.exp(theta)) - similarity * theta)).mean())
        start += size
    return sum(losses) / len(losses)


def test_model_loss_term_by_term_against_an_independent_computation():
    """Both parts from the model's outputs, and the total with a non-unit intra-modal weight: dropping, zeroing or
    flipping either term (in the parts or in the total) changes one of these numbers."""
    model = tiny_model("drh", intra_modal_weight=0.35, boosting_groups=4, similarity_scale=6.0, boosting_strength=1.5)
    batch = tiny_batch()
    out = model(**batch, training_step="joint")
    u, v = out.image_embeds.detach(), out.text_embeds.detach()
    labels = batch["labels"]
    similarity = (labels @ labels.T > 0).float()

    def pairs(first, second):
        return _independent_pair_loss(first, second, similarity, groups=4, scale=6.0, strength=1.5).item()

    cross, intra = pairs(u, v), pairs(u, u) + pairs(v, v)
    assert math.isclose(out.loss_terms["cross_modal"].item(), cross, rel_tol=1e-5)
    assert math.isclose(out.loss_terms["intra_modal"].item(), intra, rel_tol=1e-5)
    assert math.isclose(out.loss.item(), cross + 0.35 * intra, rel_tol=1e-5)
