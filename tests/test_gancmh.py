"""What makes GANCMH GANCMH: a discriminator whose loss moves against the generators', and a label network."""

from __future__ import annotations

import torch

from method_cases import tiny_batch, tiny_model


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
    model = tiny_model("gancmh", intra_modal_weight=0.0, label_guidance_weight=0.0, quantization_weight=0.0, adversarial_weight=1.0)
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
    discriminator_ids = {id(p) for p in model.discriminator.parameters()}
    generator_ids = {id(p) for p in model.step_parameters("generator")}
    assert discriminator_ids == {id(p) for p in model.step_parameters("discriminator")}
    assert discriminator_ids.isdisjoint(generator_ids)
    assert {id(p) for p in model.label_net.parameters()} <= generator_ids
    out = model(**batch)  # no training step: the generator loss
    assert {"cross_modal", "intra_modal", "label_guidance", "quantization", "adversarial", "label_net"} == set(out.loss_terms)
    out.loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.label_net.parameters() if p.dim() == 2)
    # the discriminator step's loss sees detached codes: it gives the towers no gradient
    model.zero_grad(set_to_none=True)
    model(**batch, training_step="discriminator").loss.backward()
    assert all(p.grad is None for p in model.image_tower.parameters())
    assert any(p.grad is not None for p in model.discriminator.parameters())
