"""What makes DRH DRH: codes from the argmax of learned projections, the relaxation, boosting weights by hand,
bit balance by hand, and no constant bit after training."""

from __future__ import annotations

import math

import pytest
import torch

from cmhash_hf import CrossModalHashModel, DRHConfig
from cmhash_hf.methods.drh import RankingHashLayer, boosting_weights, drh_balance_loss, drh_pair_loss
from method_cases import HASH_BITS, tiny_batch, tiny_model

#: optimiser steps of the short training run (enough for boosting groups to grow a constant bit without balance)
STEPS = 150


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


def test_four_projection_ranking_bits_by_hand():
    layer = RankingHashLayer(input_dim=2, hash_bits=2, subspaces=4, temperature=0.5)
    with torch.no_grad():
        layer.projection.weight.copy_(torch.tensor(
            [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0],  # bit 0
             [2.0, 0.0], [0.0, 0.0], [1.0, 0.0], [0.0, -1.0]]))  # bit 1
        layer.projection.bias.copy_(torch.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]))
    x = torch.tensor([[1.0, 2.0]])
    # bit 0: scores 1, 2, 3, -1 -> argmax 2, second half: +1; halves' maxima 2 and 3 -> tanh((3 - 2) / (2 * 0.5))
    # bit 1: scores 2, 1, 1, -2 -> argmax 0, first half: -1; halves' maxima 2 and 1 -> tanh(-1)
    assert torch.equal(layer.scores(x), torch.tensor([[[1.0, 2.0, 3.0, -1.0], [2.0, 1.0, 1.0, -2.0]]]))
    assert torch.allclose(layer(x), torch.tensor([[math.tanh(1.0), -math.tanh(1.0)]]))


def test_four_projections_give_a_bit_no_linear_sign_can():
    """s = (x, −x, ½, −10): the bit is +1 iff ½ > |x|, so x = −1, 0, 1 give −1, +1, −1; sign(ax + b) is monotone in
    x and cannot (the 2-projection layer is exactly such a sign)."""
    layer = RankingHashLayer(input_dim=1, hash_bits=1, subspaces=4, temperature=1.0)
    with torch.no_grad():
        layer.projection.weight.copy_(torch.tensor([[1.0], [-1.0], [0.0], [0.0]]))
        layer.projection.bias.copy_(torch.tensor([0.0, 0.0, 0.5, -10.0]))
    relaxed = layer(torch.tensor([[-1.0], [0.0], [1.0]]))
    assert torch.equal(torch.where(relaxed >= 0, 1, -1).flatten(), torch.tensor([-1, 1, -1]))
    assert torch.allclose(relaxed.flatten(), torch.tanh(torch.tensor([-0.25, 0.25, -0.25])))


def test_the_default_is_the_ranking_family_and_saved_two_projection_configs_still_load(tmp_path):
    assert DRHConfig().ranking_subspaces == 4
    old = tiny_model("drh", ranking_subspaces=2)
    old.save_pretrained(tmp_path)
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert loaded.config.ranking_subspaces == 2 and loaded.image_hash.projection.out_features == 2 * HASH_BITS
    batch = tiny_batch(seed=2)
    assert torch.equal(loaded.encode_image(pixel_values=batch["pixel_values"]),
                       old.encode_image(pixel_values=batch["pixel_values"]))


def test_balance_loss_by_hand_per_boosting_group():
    u = torch.tensor([[1.0, 0.5, -1.0, 0.2, 0.0], [1.0, -0.5, -0.6, 0.4, 1.0]])
    # bit means 1, 0, -0.8, 0.3, 0.5; squares 1, 0, 0.64, 0.09, 0.25
    # groups of 3 and 2 bits: (1 + 0 + 0.64) / 3 and (0.09 + 0.25) / 2, averaged
    expected = ((1 + 0 + 0.64) / 3 + (0.09 + 0.25) / 2) / 2
    assert math.isclose(drh_balance_loss(u, groups=2).item(), expected, rel_tol=1e-6)
    assert math.isclose(drh_balance_loss(u, groups=1).item(), (1 + 0.64 + 0.09 + 0.25) / 5, rel_tol=1e-6)
    assert drh_balance_loss(torch.tensor([[1.0, -1.0], [-1.0, 1.0]]), groups=2).item() == 0.0


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
    # group 2 is scored on the whole code so far: Θ = 3 · (u₀v₀ + u₁v₁) / 2
    second = sum(
        raw[i][j] / mean
        * nll(3.0 * (u[i, 0].item() * v[j, 0].item() + u[i, 1].item() * v[j, 1].item()) / 2, similarity[i, j].item())
        for i, j in pairs
    ) / 4
    assert math.isclose(loss.item(), (first + second) / 2, rel_tol=1e-6)


def test_later_groups_add_to_the_earlier_groups_margin_without_training_them():
    """Stagewise: the earlier bits' gradient comes from their own group only, and a later group learns less from
    pairs the earlier groups already get right than from pairs they get wrong."""
    u = torch.tensor([[0.9, 0.2], [-0.8, 0.1]], requires_grad=True)
    v = torch.tensor([[0.7, -0.3], [0.6, 0.4]])
    similarity = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    drh_pair_loss(u, v, similarity, groups=2, scale=4.0, strength=0.0).backward()
    alone = u.detach()[:, :1].clone().requires_grad_(True)
    (drh_pair_loss(alone, v[:, :1], similarity, groups=1, scale=4.0, strength=0.0) / 2).backward()
    assert torch.allclose(u.grad[:, 0], alone.grad[:, 0], atol=1e-7)  # group 2 does not move bit 0
    # a similar pair the earlier bit gets right (its values agree) against one it gets wrong, same later bit: bit
    # 1's gradient, (σ(Θ) − 1) · 4 · v₁ / 2 with Θ = 4 (u₀v₀ + u₁v₁) / 2, is larger where the earlier bit is wrong
    # (pair weights off, β = 0, so only the stagewise margin makes the difference)
    grads = {}
    for case, first in (("right", 0.9), ("wrong", -0.9)):
        one = torch.tensor([[first, 0.2]], requires_grad=True)
        drh_pair_loss(one, torch.tensor([[0.7, 0.5]]), torch.ones(1, 1), groups=2, scale=4.0, strength=0.0).backward()
        theta = 4.0 * (first * 0.7 + 0.2 * 0.5) / 2
        assert math.isclose(one.grad[0, 1].item(), (torch.sigmoid(torch.tensor(theta)).item() - 1) * 4.0 * 0.5 / 2 / 2,
                            rel_tol=1e-5)
        grads[case] = abs(one.grad[0, 1].item())
    assert grads["wrong"] > 2 * grads["right"]


@pytest.mark.parametrize(
    "kwargs, message",
    [({"ranking_subspaces": 3}, "ranking_subspaces must be an even integer"),
     ({"ranking_temperature": 0.0}, "ranking_temperature must be positive"),
     ({"hash_bits": 8, "boosting_groups": 9}, r"boosting_groups \(9\) cannot exceed hash_bits \(8\)"),
     ({"balance_weight": -0.5}, "balance_weight must be non-negative, got -0.5")],
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
        theta = scale * u[:, :start + size] @ v[:, :start + size].T / (start + size)  # the code so far
        losses.append((weights * (torch.log1p(torch.exp(theta)) - similarity * theta)).mean())
        start += size
    return sum(losses) / len(losses)


def _independent_balance(outputs, groups):
    """(batch mean of each bit)², averaged inside each group of bits, then over the groups."""
    bits = outputs.shape[1]
    sizes = [bits // groups + (1 if g < bits % groups else 0) for g in range(groups)]
    squares = outputs.mean(0) ** 2
    starts = [sum(sizes[:g]) for g in range(groups)]
    return sum(squares[start:start + size].mean() for start, size in zip(starts, sizes)) / groups


def test_model_loss_term_by_term_against_an_independent_computation():
    """Every part from the model's outputs, and the total with non-unit weights: dropping, zeroing or flipping any
    term (in the parts or in the total) changes one of these numbers."""
    model = tiny_model("drh", intra_modal_weight=0.35, boosting_groups=3, similarity_scale=6.0, boosting_strength=1.5,
                       balance_weight=0.7)
    batch = tiny_batch()
    out = model(**batch, training_step="joint")
    u, v = out.image_embeds.detach(), out.text_embeds.detach()
    labels = batch["labels"]
    similarity = (labels @ labels.T > 0).float()

    def pairs(first, second):
        return _independent_pair_loss(first, second, similarity, groups=3, scale=6.0, strength=1.5).item()

    cross, intra = pairs(u, v), pairs(u, u) + pairs(v, v)
    balance = (_independent_balance(u, 3) + _independent_balance(v, 3)).item()
    assert balance > 1e-3  # far above the tolerance below: dropping or flipping the term changes the total
    assert math.isclose(out.loss_terms["cross_modal"].item(), cross, rel_tol=1e-5)
    assert math.isclose(out.loss_terms["intra_modal"].item(), intra, rel_tol=1e-5)
    assert math.isclose(out.loss_terms["balance"].item(), balance, rel_tol=1e-5)
    assert math.isclose(out.loss.item(), cross + 0.35 * intra + 0.7 * balance, rel_tol=1e-5)


def _clustered_features(items: int, classes: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    classes_of = torch.arange(items) % classes
    image_centres, text_centres = torch.randn(classes, 12, generator=generator), torch.randn(classes, 8, generator=generator)
    image = image_centres[classes_of] + 0.7 * torch.randn(items, 12, generator=generator)
    text = text_centres[classes_of] + 0.7 * torch.randn(items, 8, generator=generator)
    return image, text, torch.nn.functional.one_hot(classes_of, classes).float()


def _constant_bits(codes: torch.Tensor) -> int:
    return int(((codes == 1).all(0) | (codes == -1).all(0)).sum())


def test_after_a_short_training_run_no_bit_is_constant_over_the_training_set():
    """Six well-separated classes, 16 bits in 4 boosting groups. Without the balance term (``balance_weight=0``)
    this run ends with one constant bit per group in each modality (measured: 4 and 4, seeds 0–1); with the
    default weight none is constant."""
    image, text, labels = _clustered_features(items=240, classes=6)
    torch.manual_seed(0)
    config = DRHConfig(hash_bits=16, num_classes=6, boosting_groups=4,
                       image_encoder={"kind": "features", "input_dim": 12, "hidden_dims": [32]},
                       text_encoder={"kind": "features", "input_dim": 8, "hidden_dims": [32]})
    model = CrossModalHashModel.from_config(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    model.train()
    for _ in range(STEPS):
        rows = torch.randperm(len(labels))[:48]
        loss = model(image_features=image[rows], text_features=text[rows], labels=labels[rows],
                     training_step="joint").loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    image_codes, text_codes = model.encode_image(image_features=image), model.encode_text(text_features=text)
    assert _constant_bits(image_codes) == 0 and _constant_bits(text_codes) == 0
