"""What makes DCPH DCPH: proxies far apart after stage 1, fixed and saved exactly, no similarity between
datapoints, and its loss by hand."""

from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file, save_file

from cmhash_hf import CrossModalHashModel, TrainingBatch
from cmhash_hf.methods.dcph import margin_dynamic_softmax_loss, modeling_dcph, proxy_network_loss
from cmhash_hf.methods.dcph.modeling_dcph import hadamard_proxy_code
from cmhash_hf.modeling_utils import binarize
from cmhash_hf.training import HashTrainingArguments, prepare_run
from cmhash_hf.training.trainer import HashTrainer
from method_cases import BATCH, HASH_BITS, NUM_CLASSES, tiny_batch, tiny_model


def test_stage_1_runs_before_the_first_epoch_and_stage_2_trains_only_the_towers():
    model = tiny_model("dcph")
    assert model.training_steps == ("image", "text") and model.steps_for_epoch(0, 1) == ("image", "text")
    assert not model.proxy_network.is_fixed
    model.before_first_epoch(tiny_batch()["labels"])
    assert model.proxy_network.is_fixed
    proxy_ids = {id(p) for p in model.proxy_network.parameters()}
    assert proxy_ids.isdisjoint(id(p) for step in ("image", "text") for p in model.step_parameters(step))


@pytest.mark.parametrize("bits", [16, 32, 64])
def test_proxies_of_24_classes_have_no_positive_inner_product_after_stage_1(bits):
    """The paper's widths and the MIRFlickr / NUS-WIDE class count: every pair of different classes' proxies at
    Hamming distance >= K/2, with the default stage 1 (Hadamard start, 500 full-batch steps)."""
    model = tiny_model("dcph", hash_bits=bits, num_classes=24, proxy_hidden_dim=4096)
    summary = model.fit_proxies()
    proxies = model.proxies
    assert proxies.shape == (24, bits) and set(proxies.unique().tolist()) == {-1.0, 1.0}
    inner = proxies @ proxies.T
    assert (inner[~torch.eye(24, dtype=torch.bool)] <= 0).all() and summary["positive_pairs"] == 0
    assert summary["separation"] < 0.01 and summary["quantization"] < 0.01  # outputs near ±1, hinges near 0


def test_stage_1_from_random_outputs_separates_the_proxies_by_training():
    """Without the Hadamard start the paper's loss alone does the separating (at 64 bits it reaches zero; from
    random outputs it needs the larger rate that would scramble a Hadamard start)."""
    model = tiny_model("dcph", hash_bits=64, num_classes=24, proxy_hidden_dim=4096, proxy_start="random",
                       proxy_learning_rate=1e-3)
    with torch.no_grad():
        start = binarize(model.proxy_network())
    before = int(((start @ start.T).triu(diagonal=1) > 0).sum())
    assert before > 20  # random codes: about half of the 276 pairs
    assert model.fit_proxies()["positive_pairs"] == 0


def test_hadamard_proxy_code_rows_and_negatives():
    code = hadamard_proxy_code(5, 4)
    assert code.tolist() == [[1, 1, 1, 1], [-1, -1, -1, -1], [1, -1, 1, -1], [-1, 1, -1, 1], [1, 1, -1, -1]]
    inner = code @ code.T
    assert set(inner[~torch.eye(5, dtype=torch.bool)].tolist()) == {0.0, -4.0}
    assert hadamard_proxy_code(9, 4) is None and hadamard_proxy_code(4, 6) is None  # > 2K classes; K not 2^n


def test_stage_1_takes_its_own_number_of_steps_whatever_the_run_length(tmp_path, monkeypatch):
    """A one-epoch run that alternates by batch still gives the proxy network all of its ``proxy_steps``."""
    calls = []
    loss = modeling_dcph.proxy_network_loss

    def counted(*args, **kwargs):
        calls.append(1)
        return loss(*args, **kwargs)

    monkeypatch.setattr(modeling_dcph, "proxy_network_loss", counted)
    args = HashTrainingArguments(method="dcph", output_dir=str(tmp_path), bits=8, epochs=1, batch_size=8,
                                 max_train_samples=16, dataset_kwargs={"num_items": 2400},
                                 method_kwargs={"proxy_hidden_dim": 32, "proxy_steps": 37, "alternate_by": "batch"})
    HashTrainer(args, prepare_run(args)).train()
    assert len(calls) == 37
    saved = load_file(tmp_path / "model.safetensors")["proxy_network.codes"]
    assert set(saved.unique().tolist()) == {-1.0, 1.0}


def test_proxies_are_fixed_by_stage_1_and_survive_save_load(tmp_path):
    model = tiny_model("dcph", proxy_steps=5)
    assert not model.proxy_network.is_fixed and torch.equal(model.proxy_network.codes, torch.zeros(NUM_CLASSES, HASH_BITS))
    model.fit_proxies()
    with torch.no_grad():
        expected = binarize(model.proxy_network())
    assert model.proxy_network.is_fixed and torch.equal(model.proxy_network.codes, expected)
    assert model.fit_proxies() == {}  # fixed proxies are not trained again
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


def test_cross_modal_term_scores_the_fused_code_against_the_proxies_by_hand():
    """u = (0.5, 0.5), the text code b = sign(0.3, −0.2) = (1, −1): fused (u + b)/2 = (0.75, −0.25); normalised
    logits against the proxies (1,1), (1,−1), (−1,1) are 0.25, 0.5, −0.5; the label is class 0, so
    γ(s⁺ − σ) = 20 · (0.25 − 0.2) = 1 and the negatives are 20 · 0.5 = 10 and −10."""
    model = tiny_model("dcph", hash_bits=2, num_classes=3, cross_modal_weight=0.3, quantization_weight=0.0)
    with torch.no_grad():
        model.proxy_network.codes.copy_(torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0]]))
    u = torch.tensor([[0.5, 0.5]], requires_grad=True)
    batch = TrainingBatch(image_embeds=u, text_embeds=torch.tensor([[0.3, -0.2]]), labels=torch.tensor([[1.0, 0.0, 0.0]]))
    loss, parts = model.step_loss("image", batch)
    cross = -math.log(math.e / (math.e + math.exp(10.0) + math.exp(-10.0)))
    proxy = -math.log(math.exp(6.0) / (math.exp(6.0) + 2.0))  # u's logits 0.5, 0, 0: γ(0.5 − 0.2) = 6
    assert math.isclose(parts["cross_modal"].item(), cross, rel_tol=1e-5)
    assert math.isclose(loss.item(), proxy + 0.3 * cross, rel_tol=1e-5)


def test_no_term_couples_two_datapoints():
    """Each item's loss depends on its own outputs, labels and codes only: the batch loss is the mean of the
    one-item losses (a pairwise similarity target between batch items would break this)."""
    model = tiny_model("dcph")
    model.fit_proxies()
    batch, index = tiny_batch(), torch.tensor([3, 1, 0, 2])
    state = model.init_training_state(batch["labels"], BATCH, generator=torch.Generator().manual_seed(1))
    outputs = torch.randn(BATCH, HASH_BITS).tanh()
    whole, parts = model.step_loss("text", TrainingBatch(text_embeds=outputs, labels=batch["labels"], state=state,
                                                         sample_index=index))
    singles = [model.step_loss("text", TrainingBatch(text_embeds=outputs[i:i + 1], labels=batch["labels"][i:i + 1],
                                                     state=state, sample_index=index[i:i + 1]))[1] for i in range(BATCH)]
    for name in ("proxy", "cross_modal", "quantization"):
        assert math.isclose(parts[name].item(), sum(s[name].item() for s in singles) / BATCH, rel_tol=1e-5), name
