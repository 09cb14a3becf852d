"""What makes DCPH DCPH: proxies far apart after stage 1, fixed and saved exactly, and its loss by hand."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from cmhash_hf import CrossModalHashModel, TrainingBatch
from cmhash_hf.methods.dcph import margin_dynamic_softmax_loss, proxy_network_loss
from method_cases import BATCH, HASH_BITS, NUM_CLASSES, tiny_batch, tiny_model


def train_proxy_stage(model, steps: int = 30) -> None:
    """Stage 1 the way the trainer runs it: the proxy step's own optimiser over the proxy network only."""
    optimizer = torch.optim.AdamW(model.step_parameters("proxy"), lr=1e-3, weight_decay=0.0)
    labels = tiny_batch()["labels"]
    for _ in range(steps):
        loss = model(labels=labels, training_step="proxy").loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


def test_schedule_runs_the_proxy_stage_first_without_towers():
    model = tiny_model("dcph")
    assert [model.steps_for_epoch(e, 20) for e in (0, 1, 2, 19)] == [("proxy",), ("proxy",), ("image", "text"), ("image", "text")]
    assert model.steps_for_epoch(0, 1) == ("proxy", "image", "text")  # a one-epoch run still does both stages
    assert model.modalities_for_step("proxy") == set()
    out = model(**tiny_batch(), training_step="proxy")
    assert out.image_embeds is None and out.text_embeds is None and torch.isfinite(out.loss)
    proxy_ids = {id(p) for p in model.step_parameters("proxy")}
    assert proxy_ids.isdisjoint(id(p) for step in ("image", "text") for p in model.step_parameters(step))


def test_proxies_of_different_labels_are_far_apart_after_stage_1():
    model = tiny_model("dcph", proxy_hidden_dim=4096)  # the paper's width
    train_proxy_stage(model)
    proxies = model.proxies
    assert proxies.shape == (NUM_CLASSES, HASH_BITS) and set(proxies.unique().tolist()) == {-1.0, 1.0}
    inner = proxies @ proxies.T
    different = ~torch.eye(NUM_CLASSES, dtype=torch.bool)
    assert (inner[different] <= 0).all()  # i.e. Hamming distance >= K/2 between the proxies of different classes


def test_proxies_are_fixed_at_the_first_hashing_step_and_survive_save_load(tmp_path):
    model = tiny_model("dcph")
    assert not model.proxy_network.is_fixed and torch.equal(model.proxy_network.codes, torch.zeros(NUM_CLASSES, HASH_BITS))
    train_proxy_stage(model, steps=5)
    batch, index = tiny_batch(), torch.arange(BATCH)
    state = model.init_training_state(batch["labels"], BATCH)
    expected = model.proxies.clone()
    out = model(**batch, training_step="image", training_state=state, sample_index=index)
    model.update_training_state(state, "image", out.image_embeds, None, index)
    assert model.proxy_network.is_fixed and torch.equal(model.proxy_network.codes, expected)
    with torch.no_grad():  # the proxy network moving no longer moves the proxies
        model.proxy_network.layers[-2].bias.add_(5.0)
    assert torch.equal(model.proxies, expected)
    model.save_pretrained(tmp_path)
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.proxy_network.codes, expected) and torch.equal(loaded.proxies, expected)


def test_proxy_buffer_is_initialised_not_garbage_after_from_pretrained(tmp_path):
    tiny_model("dcph").save_pretrained(tmp_path)
    weights = load_file(tmp_path / "model.safetensors")
    assert "proxy_network.codes" in weights  # persistent: saved with the checkpoint
    del weights["proxy_network.codes"]
    save_file(weights, tmp_path / "model.safetensors", metadata={"format": "pt"})
    (tmp_path / "checksums.json").unlink()  # weights edited by hand no longer match their recorded checksum
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert torch.equal(loaded.proxy_network.codes, torch.zeros(NUM_CLASSES, HASH_BITS))


@pytest.mark.parametrize(
    "loss_form, expected",
    [
        # normalised: logits u·p / K = [0.5, 0, 0]; s⁺ = mean over labels {0, 1} = 0.25; γ(s⁺ − σ) = 20 · 0.05 = 1;
        # the only negative (class 2) has logit 0: loss = −log(e¹ / (e¹ + e⁰))
        ("normalized", -math.log(math.e / (math.e + 1.0))),
        # raw: logits u·p = [1, 0, 0]; s⁺ = 0.5; σ = 0.3 · K = 0.6; γ(s⁺ − σ) = 0.3 · (−0.1) = −0.03
        ("raw", -math.log(math.exp(-0.03) / (math.exp(-0.03) + 1.0))),
    ],
)
def test_both_loss_forms_match_a_hand_computation(loss_form, expected):
    model = tiny_model("dcph", hash_bits=2, num_classes=3, loss_form=loss_form, cross_modal_weight=0.0, quantization_weight=0.0)
    with torch.no_grad():
        model.proxy_network.codes.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]))
    u = torch.tensor([[0.5, 0.5]], requires_grad=True)
    labels = torch.tensor([[1.0, 1.0, 0.0]])
    loss, parts = model.step_loss("image", TrainingBatch(image_embeds=u, text_embeds=u.detach(), labels=labels))
    assert math.isclose(parts["proxy"].item(), expected, rel_tol=1e-5)
    assert math.isclose(loss.item(), expected, rel_tol=1e-5)


def test_margin_dynamic_softmax_skips_rows_without_labels_and_has_no_constant_in_the_denominator():
    logits = torch.tensor([[0.0, 0.0], [3.0, -1.0]])
    positives = torch.tensor([[1.0, 0.0], [0.0, 0.0]])  # the second row has no label
    value = margin_dynamic_softmax_loss(logits, positives, scale=1.0, margin=0.0).item()
    assert math.isclose(value, math.log(2.0), rel_tol=1e-6)  # −log(e⁰ / (e⁰ + e⁰)), no "+1 per positive"


def test_training_state_codes_are_the_unified_sign():
    model = tiny_model("dcph")
    state = model.init_training_state(tiny_batch()["labels"], 3)
    state.image_outputs.copy_(torch.tensor([[0.5] * HASH_BITS, [-0.5] * HASH_BITS, [0.2] * HASH_BITS]))
    state.text_outputs.copy_(torch.tensor([[0.1] * HASH_BITS, [0.3] * HASH_BITS, [-0.4] * HASH_BITS]))
    model.on_epoch_end(state, epoch=0)
    # agree -> that sign; disagree -> the sign of F + G
    assert state.codes[:, 0].tolist() == [1.0, -1.0, -1.0]


def test_proxy_network_loss_term_by_term():
    """Separation, quantisation and balance by hand, and the total with non-unit weights."""
    h = torch.tensor([[0.5, 1.0], [0.5, -0.5], [1.0, 0.5]])  # 3 proxies, K = 2
    loss, parts = proxy_network_loss(h, quantization_weight=0.3, balance_weight=2.0)
    inner = {(0, 1): (0.25 - 0.5) / 2, (0, 2): (0.5 + 0.5) / 2, (1, 2): (0.5 - 0.25) / 2}
    separation = 2 * sum(max(value, 0.0) for value in inner.values()) / 3  # each pair counted from both sides
    quantization = sum((abs(x) - 1) ** 2 for x in (0.5, 1.0, 0.5, -0.5, 1.0, 0.5)) / 6
    balance = ((2.0 / 3) ** 2 + (1.0 / 3) ** 2) / 2  # ‖column means‖² / K
    assert math.isclose(parts["separation"].item(), separation, rel_tol=1e-6)
    assert math.isclose(parts["quantization"].item(), quantization, rel_tol=1e-6)
    assert math.isclose(parts["balance"].item(), balance, rel_tol=1e-6)
    assert math.isclose(loss.item(), separation + 0.3 * quantization + 2.0 * balance, rel_tol=1e-6)


def test_hashing_step_loss_is_the_weighted_sum_of_its_parts_with_the_unified_codes():
    """With a training state: the quantisation part is the mean over the batch of ‖B_i − u_i‖², and the total is
    proxy + cross_modal_weight · cross_modal + quantization_weight · quantization, every part live."""
    model = tiny_model("dcph", cross_modal_weight=0.4, quantization_weight=0.15)
    batch, index = tiny_batch(), torch.tensor([3, 1, 0, 2])
    state = model.init_training_state(batch["labels"], BATCH, generator=torch.Generator().manual_seed(2))
    for step in ("image", "text"):
        out = model(**batch, training_step=step, training_state=state, sample_index=index)
        outputs = (out.image_embeds if step == "image" else out.text_embeds).detach()
        quantization = ((state.codes[index] - outputs) ** 2).sum(1).mean()
        terms = out.loss_terms
        assert math.isclose(terms["quantization"].item(), quantization.item(), rel_tol=1e-5)
        assert all(terms[name].item() > 0 for name in ("proxy", "cross_modal", "quantization")), terms
        expected = terms["proxy"] + 0.4 * terms["cross_modal"] + 0.15 * terms["quantization"]
        assert math.isclose(out.loss.item(), expected.item(), rel_tol=1e-5)
