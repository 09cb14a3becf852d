"""What makes DFAH DFAH: a fusion learner, and unified codes that are exactly binary closed-form sign updates."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from method_cases import BATCH, HASH_BITS, tiny_batch, tiny_model


def test_discrete_step_gives_exact_binary_codes_equal_to_the_closed_form():
    model = tiny_model("dfah", quantization_weight=0.7, fusion_quantization_weight=1.3)
    batch = tiny_batch()
    state = model.init_training_state(torch.cat([batch["labels"], batch["labels"][:2]]), num_items=6)
    assert state.code_updates.item() == 0
    index = torch.tensor([5, 0, 2, 3])
    out = model(**batch, training_step="hashing", training_state=state, sample_index=index)
    # no unified codes before the first discrete step
    assert out.loss_terms["quantization"].item() == out.loss_terms["fusion_quantization"].item() == 0.0
    model.update_training_state(state, "hashing", out.image_embeds, out.text_embeds, index)
    with torch.no_grad():
        fused = model.fusion(torch.cat([out.image_embeds, out.text_embeds], dim=1))
    assert torch.allclose(state.fused_outputs[index], fused)
    model.on_epoch_end(state, epoch=0)

    weighted = 0.7 * (state.image_outputs + state.text_outputs) + 1.3 * state.fused_outputs
    expected = torch.sign(weighted)
    expected[expected == 0] = 1.0
    assert torch.equal(state.codes, expected)
    assert set(state.codes.unique().tolist()) == {-1.0, 1.0} and state.codes.shape == (6, HASH_BITS)
    assert state.code_updates.item() == 1

    # after the discrete step the extractors and the fusion learner are pulled onto the unified codes
    out = model(**batch, training_step="hashing", training_state=state, sample_index=index)
    codes = state.codes[index]
    quantization = ((codes - out.image_embeds) ** 2).mean() + ((codes - out.text_embeds) ** 2).mean()
    fusion_quantization = ((codes - model.fuse(out.image_embeds, out.text_embeds)) ** 2).mean()
    assert torch.isclose(out.loss_terms["quantization"], quantization.detach())
    assert torch.isclose(out.loss_terms["fusion_quantization"], fusion_quantization.detach())


def test_discriminator_step_is_separate_from_the_hashing_step():
    model = tiny_model("dfah")
    hashing = {id(p) for p in model.step_parameters("hashing")}
    assert {id(p) for p in model.step_parameters("discriminator")} == {id(p) for p in model.discriminator.parameters()}
    assert hashing.isdisjoint(id(p) for p in model.discriminator.parameters())
    assert {id(p) for p in model.fusion.parameters()} <= hashing
    out = model(**tiny_batch())  # no training step: the hashing loss, with the adversarial term
    assert {"pairwise", "fusion", "quantization", "fusion_quantization", "unified", "adversarial"} == set(out.loss_terms)
    assert out.image_embeds.shape == (BATCH, HASH_BITS)


def _likelihood(a, b, similarity):
    """Pairwise negative log-likelihood, written out: mean of log(1 + e^θ) − S θ with θ = ½ a bᵀ."""
    theta = 0.5 * a @ b.T
    return (torch.log1p(torch.exp(theta)) - similarity * theta).mean()


def _discriminator_term(model, image, text):
    """The modality discriminator's objective: image → 1, text → 0 (binary cross-entropy, mean of the two)."""
    return 0.5 * (F.softplus(-model.discriminator(image)).mean() + F.softplus(model.discriminator(text)).mean())


def test_hashing_loss_term_by_term_against_the_unified_codes_of_the_whole_training_set():
    weights = {"fusion_weight": 0.3, "unified_weight": 0.7, "adversarial_weight": 0.2, "quantization_weight": 0.6,
               "fusion_quantization_weight": 1.3}
    model = tiny_model("dfah", **weights)
    batch = tiny_batch()
    labels = batch["labels"]
    train_labels = torch.cat([labels, torch.eye(labels.shape[1])[[1, 3]]])  # 6 training items, batch = 4 of them
    state = model.init_training_state(train_labels, num_items=6)
    index = torch.tensor([5, 0, 2, 3])
    state.labels[index] = labels  # the batch's labels where the batch sits in the training set
    with torch.no_grad():  # unified codes as after a discrete step, with both signs in every column
        state.codes.copy_(torch.tensor([1.0, -1.0]).repeat(6, 8) * torch.tensor([1, 1, -1, 1, -1, -1.0])[:, None])
        state.code_updates.fill_(1)
    out = model(**batch, training_step="hashing", training_state=state, sample_index=index)
    image, text = out.image_embeds.detach(), out.text_embeds.detach()
    similarity = (labels @ labels.T > 0).float()
    all_similarity = (labels @ state.labels.T > 0).float()
    codes = state.codes[index]
    with torch.no_grad():
        fused = model.fusion(torch.cat([image, text], dim=1))
        expected = {
            "pairwise": _likelihood(image, text, similarity),
            "fusion": _likelihood(fused, fused, similarity),
            "quantization": ((codes - image) ** 2).mean() + ((codes - text) ** 2).mean(),
            "fusion_quantization": ((codes - fused) ** 2).mean(),
            "unified": _likelihood(image, state.codes, all_similarity) + _likelihood(text, state.codes, all_similarity),
            # the extractors' side of the game: targets flipped (image → 0, text → 1)
            "adversarial": 0.5 * (F.softplus(model.discriminator(image)).mean()
                                  + F.softplus(-model.discriminator(text)).mean()),
        }
    assert set(out.loss_terms) == set(expected)
    for name, value in expected.items():
        assert torch.isclose(out.loss_terms[name], value, atol=1e-5), name
    term_weights = {"pairwise": 1.0, "fusion": 0.3, "quantization": 0.6, "fusion_quantization": 1.3, "unified": 0.7,
                    "adversarial": 0.2}
    total = sum(term_weights[name] * value for name, value in expected.items())
    assert torch.isclose(out.loss.detach(), total, atol=1e-5)


def test_discriminator_step_moves_the_discriminator_toward_its_objective_and_leaves_the_rest():
    model = tiny_model("dfah")
    batch = tiny_batch()
    others = {name: p.detach().clone() for name, p in model.named_parameters() if not name.startswith("discriminator")}
    out = model(**batch, training_step="discriminator")
    image, text = out.image_embeds.detach(), out.text_embeds.detach()
    with torch.no_grad():
        before = _discriminator_term(model, image, text)
    assert torch.isclose(out.loss.detach(), before, atol=1e-6)
    optimizer = torch.optim.SGD(model.step_parameters("discriminator"), lr=0.5)
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    with torch.no_grad():
        after = _discriminator_term(model, image, text)
    assert after < before - 1e-3, (before, after)
    assert all(torch.equal(p, others[name]) for name, p in model.named_parameters() if name in others)
