"""What makes GANCMH GANCMH: two discriminators whose losses move against the generators', and a label network.

The loss values are checked against plain-torch formulas written here, term by term, so dropping a term, zeroing
its weight or flipping its sign fails a test.
"""

from __future__ import annotations

import torch

import torch.nn.functional as F

from method_cases import tiny_batch, tiny_model

#: distinct weights, so a term that lost or swapped its weight changes the total
WEIGHTS = {"intra_modal_weight": 0.3, "label_guidance_weight": 0.7, "quantization_weight": 0.2, "adversarial_weight": 0.4,
           "pair_adversarial_weight": 0.6}


def _likelihood(a, b, similarity):
    """Pairwise negative log-likelihood, written out: mean of log(1 + e^θ) − S θ with θ = ½ a bᵀ."""
    theta = 0.5 * a @ b.T
    return (torch.log1p(torch.exp(theta)) - similarity * theta).mean()


def _pair_logits(model, image, text):
    """(i, j) → the pair discriminator's logit of image code i with text code j, one pair at a time."""
    rows = [[model.pair_discriminator.layers(torch.cat([image[i], text[j]])) for j in range(len(text))]
            for i in range(len(image))]
    return torch.stack([torch.cat(row) for row in rows])


def _shared_label_mismatches(labels):
    similar = (labels @ labels.T > 0).float()
    return similar * (1 - torch.eye(len(labels)))


def _discriminator_terms(model, image, text, labels):
    """D_m: image → 1, text → 0; D_p: matched (diagonal) → 1, different items sharing a label → 0."""
    softplus = F.softplus
    image_logits, text_logits = model.discriminator(image), model.discriminator(text)
    modality = 0.5 * (softplus(-image_logits).mean() + softplus(text_logits).mean())
    pairs, mask = _pair_logits(model, image, text), _shared_label_mismatches(labels)
    pair = 0.5 * (softplus(-pairs.diagonal()).mean() + (softplus(pairs) * mask).sum() / mask.sum())
    return modality, pair


def _discriminator_loss(model, batch) -> float:
    with torch.no_grad():
        return model(**batch, training_step="discriminator").loss.item()


def _train(model, batch, step: str, updates: int, lr: float) -> None:
    optimizer = torch.optim.Adam(model.step_parameters(step), lr=lr)
    for _ in range(updates):
        optimizer.zero_grad()
        model(**batch, training_step=step).loss.backward()
        optimizer.step()


def test_discriminator_and_generator_losses_move_against_each_other():
    # only the adversarial term in the generator loss, so what moves the discriminator's loss is the game itself
    model = tiny_model("gancmh", intra_modal_weight=0.0, label_guidance_weight=0.0, quantization_weight=0.0,
                       adversarial_weight=1.0, pair_adversarial_weight=1.0)
    model.train()
    batch = tiny_batch()
    start = _discriminator_loss(model, batch)
    _train(model, batch, "discriminator", updates=20, lr=1e-2)
    trained = _discriminator_loss(model, batch)
    assert trained < start - 0.05, (start, trained)
    _train(model, batch, "generator", updates=20, lr=1e-3)
    fooled = _discriminator_loss(model, batch)  # fresh generator outputs, same discriminator
    assert fooled > trained + 0.05, (trained, fooled)


def test_generator_step_leaves_the_discriminator_alone_and_trains_the_label_net():
    model = tiny_model("gancmh")
    batch = tiny_batch()
    discriminator_ids = {id(p) for d in (model.discriminator, model.pair_discriminator) for p in d.parameters()}
    generator_ids = {id(p) for p in model.step_parameters("generator")}
    assert discriminator_ids == {id(p) for p in model.step_parameters("discriminator")}
    assert discriminator_ids.isdisjoint(generator_ids)
    assert {id(p) for p in model.label_net.parameters()} <= generator_ids
    out = model(**batch)  # no training step: the generator loss
    assert {
        "cross_modal", "intra_modal", "label_guidance", "quantization", "adversarial", "pair_adversarial", "label_net"
    } == set(out.loss_terms)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.label_net.parameters() if p.dim() == 2)
    # the discriminator step's loss sees detached codes: it gives the towers no gradient
    model.zero_grad(set_to_none=True)
    model(**batch, training_step="discriminator").loss.backward()
    assert all(p.grad is None for p in model.image_tower.parameters())
    assert any(p.grad is not None for p in model.discriminator.parameters())
    assert any(p.grad is not None for p in model.pair_discriminator.parameters())


def test_generator_loss_term_by_term():
    model = tiny_model("gancmh", **WEIGHTS)
    batch = tiny_batch()
    labels = batch["labels"]
    out = model(**batch, training_step="generator")
    image, text = out.image_embeds.detach(), out.text_embeds.detach()
    similarity = (labels @ labels.T > 0).float()
    assert _shared_label_mismatches(labels).sum() == 2  # items 0 and 2 share label 0: the batch has mismatches
    with torch.no_grad():
        label_codes = model.label_net(labels)
        signs = torch.where(label_codes >= 0, 1.0, -1.0)
        image_logits, text_logits = model.discriminator(image), model.discriminator(text)
        pairs, mask = _pair_logits(model, image, text), _shared_label_mismatches(labels)
        expected = {
            "cross_modal": _likelihood(image, text, similarity),
            "intra_modal": _likelihood(image, image, similarity) + _likelihood(text, text, similarity),
            "label_guidance": _likelihood(image, label_codes, similarity) + _likelihood(text, label_codes, similarity),
            "quantization": ((signs - image) ** 2).mean() + ((signs - text) ** 2).mean(),
            # the generators' side: targets flipped (image → 0, text → 1; matched → 0, mismatched → 1)
            "adversarial": 0.5 * (F.softplus(image_logits).mean() + F.softplus(-text_logits).mean()),
            "pair_adversarial": 0.5 * (F.softplus(pairs.diagonal()).mean()
                                       + (F.softplus(-pairs) * mask).sum() / mask.sum()),
            "label_net": _likelihood(label_codes, label_codes, similarity) + ((signs - label_codes) ** 2).mean(),
        }
    assert set(out.loss_terms) == set(expected)
    for name, value in expected.items():
        assert torch.isclose(out.loss_terms[name], value, atol=1e-5), name
    weights = {"cross_modal": 1.0, "intra_modal": 0.3, "label_guidance": 0.7, "quantization": 0.2, "adversarial": 0.4,
               "pair_adversarial": 0.6, "label_net": 1.0}
    total = sum(weights[name] * value for name, value in expected.items())
    assert torch.isclose(out.loss.detach(), total, atol=1e-5)


def test_discriminator_step_moves_both_discriminators_toward_their_objectives():
    model = tiny_model("gancmh")
    batch = tiny_batch()
    generators = {name: p.detach().clone() for name, p in model.named_parameters() if "discriminator" not in name}
    out = model(**batch, training_step="discriminator")
    image, text = out.image_embeds.detach(), out.text_embeds.detach()
    with torch.no_grad():
        modality, pair = _discriminator_terms(model, image, text, batch["labels"])
    assert torch.isclose(out.loss_terms["discriminator"], modality, atol=1e-6)
    assert torch.isclose(out.loss_terms["pair_discriminator"], pair, atol=1e-6)
    assert torch.isclose(out.loss.detach(), modality + pair, atol=1e-6)

    optimizer = torch.optim.SGD(model.step_parameters("discriminator"), lr=0.5)
    optimizer.zero_grad()
    out.loss.backward()
    optimizer.step()
    with torch.no_grad():  # the same codes (the generators did not move), the stepped discriminators
        stepped_modality, stepped_pair = _discriminator_terms(model, image, text, batch["labels"])
    assert stepped_modality < modality - 1e-3 and stepped_pair < pair - 1e-3, (modality, stepped_modality, pair, stepped_pair)
    assert all(torch.equal(p, generators[name]) for name, p in model.named_parameters() if name in generators)
