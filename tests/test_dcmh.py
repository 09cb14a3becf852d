"""What makes DCMH DCMH: its loss against hand-computed values, per-item F/G/B state, the B-step."""

from __future__ import annotations

import math

import pytest
import torch

from cmhash_hf import ItemCodeState
from cmhash_hf.methods.dcmh import dcmh_loss
from method_cases import BATCH, tiny_batch, tiny_model


def test_loss_matches_a_hand_computation():
    f = torch.tensor([[1.0, -1.0]])
    g = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
    batch_labels = torch.tensor([[1.0, 0.0]])
    all_labels = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # item 0 shares label 0, item 1 shares nothing
    codes = torch.tensor([[1.0, 1.0]])
    loss, parts = dcmh_loss(f, g, batch_labels, all_labels, codes, quantization_weight=2.0, balance_weight=0.5)
    softplus = lambda x: math.log1p(math.exp(x))  # noqa: E731
    likelihood = -(1 * 1.0 - softplus(1.0)) - (0 * -1.0 - softplus(-1.0))
    quantization = (1 - 1) ** 2 + (1 - (-1)) ** 2
    balance = (2 / 1) * (1.0**2 + (-1.0) ** 2)  # (N / b) * ||sum of batch outputs||^2
    assert math.isclose(parts["likelihood"].item(), likelihood, rel_tol=1e-6)
    assert parts["quantization"].item() == quantization and parts["balance"].item() == balance
    assert math.isclose(loss.item(), (likelihood + 2.0 * quantization + 0.5 * balance) / (2 * 1), rel_tol=1e-6)


def test_b_step_is_sign_of_gamma_f_plus_g_with_zero_to_plus_one():
    state = ItemCodeState(3, hash_bits=4, labels=torch.eye(3))
    state.image_outputs.copy_(torch.tensor([[0.5, -0.2, 0.0, -0.9], [0.1, 0.1, -0.1, 0.3], [-0.4, 0.2, 0.0, 0.0]]))
    state.text_outputs.copy_(torch.tensor([[-0.1, -0.3, 0.0, 0.8], [-0.2, 0.0, 0.1, 0.3], [0.4, -0.3, 0.5, -0.1]]))
    state.update_codes({"image": 1.0, "text": 1.0})
    assert state.codes.tolist() == [[1, -1, 1, -1], [-1, 1, 1, 1], [1, -1, 1, -1]]


def test_training_state_follows_the_steps_and_epoch_end():
    model = tiny_model("dcmh")
    batch = tiny_batch()
    state = model.init_training_state(torch.cat([batch["labels"], batch["labels"][:2]]), num_items=6)
    assert state.image_outputs.shape == state.text_outputs.shape == state.codes.shape == (6, 16)
    index = torch.tensor([5, 0, 2, 3])
    out = model(**batch, training_step="image", training_state=state, sample_index=index)
    assert out.text_embeds is None  # the image step runs the image tower only (G is held fixed)
    model.update_training_state(state, "image", out.image_embeds, None, index)
    assert torch.equal(state.image_outputs[index], out.image_embeds.detach())
    model.on_epoch_end(state, epoch=0)
    assert torch.equal(state.codes, torch.where(state.image_outputs + state.text_outputs >= 0, 1.0, -1.0))
    # the text step's gradients reach the text tower only
    model.zero_grad()
    model(**batch, training_step="text", training_state=state, sample_index=index).loss.backward()
    assert all(p.grad is None for p in model.image_tower.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.text_tower.parameters())
    assert {id(p) for p in model.step_parameters("image")}.isdisjoint(id(p) for p in model.step_parameters("text"))


def test_a_step_without_its_modality_is_a_clear_error():
    model = tiny_model("dcmh")
    batch = tiny_batch()
    state, index = model.init_training_state(batch["labels"], BATCH), torch.arange(BATCH)
    with pytest.raises(ValueError, match=r"^DCMHModel's 'image' step needs image inputs in the batch\.$"):
        model(input_ids=batch["input_ids"], labels=batch["labels"], training_step="image", training_state=state,
              sample_index=index)
    # without a training state the batch stands in for the training set, so both modalities are needed
    with pytest.raises(ValueError, match=r"^DCMHModel's 'image' step needs text inputs in the batch\.$"):
        model(pixel_values=batch["pixel_values"], labels=batch["labels"])
    with pytest.raises(ValueError, match=r"DCMHModel's 'image' step needs labels and sample_index \(the positions"):
        model(**{k: v for k, v in batch.items() if k != "labels"}, training_step="image",
              training_state=state, return_loss=True)


def _independent_dcmh(f, g, batch_labels, all_labels, codes, gamma, eta):
    """DCMH's loss written out element by element (the paper's sums), for checking the model's."""
    num_items, batch_size = g.shape[0], f.shape[0]
    likelihood = 0.0
    for i in range(batch_size):
        for j in range(num_items):
            similar = float((batch_labels[i] * all_labels[j]).sum() > 0)
            theta = 0.5 * float(f[i] @ g[j])
            likelihood -= similar * theta - math.log1p(math.exp(theta))
    quantization = float(((codes - f) ** 2).sum())
    column_sums = f.sum(0)
    balance = (num_items / batch_size) * float((column_sums**2).sum())
    total = (likelihood + gamma * quantization + eta * balance) / (num_items * batch_size)
    return total, {"likelihood": likelihood, "quantization": quantization, "balance": balance}


@pytest.mark.parametrize("step", ["image", "text"])
def test_model_loss_term_by_term_against_the_training_state(step):
    """Every term, its weight and its sign: a dropped, zeroed or flipped term changes one of these numbers."""
    model = tiny_model("dcmh", quantization_weight=0.7, balance_weight=0.3)
    batch = tiny_batch()
    labels = torch.cat([batch["labels"], batch["labels"][:2]])
    state = model.init_training_state(labels, num_items=6, generator=torch.Generator().manual_seed(4))
    index = torch.tensor([5, 0, 2, 3])
    out = model(**batch, training_step=step, training_state=state, sample_index=index)
    own = (out.image_embeds if step == "image" else out.text_embeds).detach()
    other = state.text_outputs if step == "image" else state.image_outputs
    total, parts = _independent_dcmh(own, other, batch["labels"], labels, state.codes[index], 0.7, 0.3)
    for name, value in parts.items():
        assert math.isclose(out.loss_terms[name].item(), value, rel_tol=1e-4), name
    assert math.isclose(out.loss.item(), total, rel_tol=1e-4)


def test_model_loss_without_state_takes_the_batch_as_the_training_set():
    model = tiny_model("dcmh", quantization_weight=1.5, balance_weight=0.2)
    batch = tiny_batch()
    out = model(**batch)  # both steps; the other modality's batch outputs stand in for the whole set
    image, text = out.image_embeds.detach(), out.text_embeds.detach()
    expected = 0.0
    for step, own, other in (("image", image, text), ("text", text, image)):
        codes = torch.where(own + other >= 0, 1.0, -1.0)
        total, parts = _independent_dcmh(own, other, batch["labels"], batch["labels"], codes, 1.5, 0.2)
        expected += total
        for name, value in parts.items():
            assert math.isclose(out.loss_terms[f"{step}/{name}"].item(), value, rel_tol=1e-4), (step, name)
    assert math.isclose(out.loss.item(), expected, rel_tol=1e-4)
