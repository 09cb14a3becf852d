"""What makes CDHTK CDHTK: codes that fuse each modality's part with the transfer network's part."""

from __future__ import annotations

import torch

from cmhash_hf import binarize
from cmhash_hf.methods.cdhtk.modeling_cdhtk import differential_loss
from method_cases import tiny_batch, tiny_model


def _codes(model, batch):
    return (
        model.encode_image(pixel_values=batch["pixel_values"]),
        model.encode_text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]),
    )


def test_codes_depend_on_the_transfer_network_and_fall_back_to_the_modality_code_without_it():
    model = tiny_model("cdhtk")
    batch = tiny_batch()
    before = _codes(model, batch)
    last = model.transfer.shared[-2]  # the transfer network's output layer
    with torch.no_grad():
        last.weight.add_(torch.randn_like(last.weight))
    after = _codes(model, batch)
    assert not torch.equal(before[0], after[0]) and not torch.equal(before[1], after[1])

    with torch.no_grad():  # zero the transferred knowledge: T = tanh(0) = 0
        last.weight.zero_()
        last.bias.zero_()
    image_features = model._tower_features("image", pixel_values=batch["pixel_values"])
    text_features = model._tower_features("text", input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    image_head, text_head = model.image_hash.projection, model.text_hash.projection
    with torch.no_grad():  # the modality-specific part alone: W_s f + b, W_s the columns that read the tower features
        image_only = image_features @ image_head.weight[:, : image_features.shape[1]].T + image_head.bias
        text_only = text_features @ text_head.weight[:, : text_features.shape[1]].T + text_head.bias
    zeroed = _codes(model, batch)
    assert torch.equal(zeroed[0], binarize(image_only)) and torch.equal(zeroed[1], binarize(text_only))


def test_each_modality_reaches_the_transfer_network_through_its_own_adapter():
    model = tiny_model("cdhtk")
    batch = tiny_batch()
    out = model(**batch)
    assert set(out.loss_terms) == {
        "joint/classification", "joint/triplet", "joint/quantization", "joint/balance", "joint/differential",
        "joint/agreement", "joint/completion",
    }
    out.loss.backward()
    for modality in ("image", "text"):
        assert model.transfer.adapters[modality].weight.grad.abs().sum() > 0
    # encoding one image never reads the text adapter
    model.zero_grad(set_to_none=True)
    model.get_image_features(pixel_values=batch["pixel_values"]).sum().backward()
    assert model.transfer.adapters["text"].weight.grad is None
    assert model.transfer.adapters["image"].weight.grad is not None


def _bce(logits, labels):
    """Sigmoid cross-entropy, written out: mean of log(1 + e^z) − y z."""
    return (torch.log1p(torch.exp(logits)) - labels * logits).mean()


def _triplets(anchors, candidates, labels, margin):
    """Mean hinge over every (anchor, positive, negative), one triplet at a time; d = fraction of differing bits."""
    bits = anchors.shape[1]
    hinges = []
    for a in range(len(anchors)):
        for p in range(len(candidates)):
            for n in range(len(candidates)):
                if labels[a] @ labels[p] > 0 and labels[a] @ labels[n] == 0:
                    d_p = (1 - anchors[a] @ candidates[p] / bits) / 2
                    d_n = (1 - anchors[a] @ candidates[n] / bits) / 2
                    hinges.append(torch.clamp(margin + d_p - d_n, min=0))
    return torch.stack(hinges).mean()


def _squared_correlations(specific, transferred):
    bits = specific.shape[1]
    correlation = torch.corrcoef(torch.cat([specific, transferred], dim=1).T)[:bits, bits:]
    return (correlation**2).sum() / bits


def test_loss_term_by_term():
    weights = {"classification_weight": 0.3, "triplet_weight": 0.7, "quantization_weight": 0.2,
               "balance_weight": 0.9, "differential_weight": 0.4, "agreement_weight": 0.6, "completion_weight": 1.7}
    model = tiny_model("cdhtk", triplet_margin=0.25, **weights)
    batch = tiny_batch()
    labels = batch["labels"]
    out = model(**batch)
    with torch.no_grad():
        features = {
            "image": model._tower_features("image", pixel_values=batch["pixel_values"]),
            "text": model._tower_features("text", input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]),
        }
        transfer = model.transfer
        adapted = {m: f @ transfer.adapters[m].weight.T + transfer.adapters[m].bias for m, f in features.items()}
        codes, knowledge, classification, differential, completion = {}, {}, 0.0, 0.0, 0.0
        for modality, f in features.items():
            other = "text" if modality == "image" else "image"
            layer = transfer.completions[other]
            completed = adapted[modality] @ layer.weight.T + layer.bias  # the other modality, predicted
            pair = {modality: adapted[modality], other: completed}
            single = transfer.shared(torch.cat([pair["image"], pair["text"]], dim=1))
            knowledge[modality] = single
            head = (model.image_hash if modality == "image" else model.text_hash).projection
            w_s, w_t = head.weight[:, : f.shape[1]], head.weight[:, f.shape[1]:]
            codes[modality] = torch.tanh(f @ w_s.T + single @ w_t.T + head.bias)
            classification += _bce(model.classifier(codes[modality]), labels)
            classification += _bce(model.classifier(torch.tanh(single @ w_t.T)), labels)
            differential += _squared_correlations(torch.tanh(f @ w_s.T + head.bias), torch.tanh(single @ w_t.T))
            completion += ((completed - adapted[other]) ** 2).mean()
        image, text = codes["image"], codes["text"]
        assert torch.allclose(image, out.image_embeds, atol=1e-6) and torch.allclose(text, out.text_embeds, atol=1e-6)
        signs = {m: torch.where(c >= 0, 1.0, -1.0) for m, c in codes.items()}
        expected = {
            "classification": classification,
            "triplet": _triplets(image, text, labels, 0.25) + _triplets(text, image, labels, 0.25),
            "quantization": ((signs["image"] - image) ** 2).mean() + ((signs["text"] - text) ** 2).mean(),
            "balance": (image.mean(0) ** 2).mean() + (text.mean(0) ** 2).mean(),
            "differential": differential,
            "agreement": ((knowledge["image"] - knowledge["text"]) ** 2).mean(),
            "completion": completion,
        }
    for name, value in expected.items():
        assert torch.isclose(out.loss_terms[f"joint/{name}"], value, atol=1e-5), name
        assert value > 1e-4, name  # every term is in play on this batch
    term_weights = {name.removesuffix("_weight"): w for name, w in weights.items()}
    total = sum(term_weights[name] * value for name, value in expected.items())
    assert torch.isclose(out.loss.detach(), total, atol=1e-5)


def test_the_transfer_network_reads_both_modalities_and_completes_a_missing_one():
    model = tiny_model("cdhtk")
    batch = tiny_batch()
    image = model._tower_features("image", pixel_values=batch["pixel_values"])
    text = model._tower_features("text", input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    transfer = model.transfer
    with torch.no_grad():
        joint = transfer(image, text)
        assert not torch.allclose(joint, transfer(image, text.flip(0)))  # the pair's knowledge depends on the text
        assert not torch.allclose(joint, transfer(image.flip(0), text))  # ... and on the image
        # a lone image: the text's adapted vector is predicted from the image's by the completion layer
        adapted = transfer.adapters["image"](image)
        completed = transfer.shared(torch.cat([adapted, transfer.completions["text"](adapted)], dim=1))
        assert torch.allclose(transfer(image_features=image), completed)
    # the completion term trains the completion layers towards the pair's real other modality
    model(**batch).loss.backward()
    assert transfer.completions["text"].weight.grad.abs().sum() > 0
    assert transfer.completions["image"].weight.grad.abs().sum() > 0


def test_the_completion_target_is_fixed_the_completion_learns_it():
    """With only the completion term weighted, an adapter moves only as the input of its own completion, never to
    meet the completion aimed at it (the real adapted vector is a fixed target)."""
    zero = {f"{name}_weight": 0.0 for name in ("classification", "triplet", "quantization", "balance",
                                                 "differential", "agreement")}
    model = tiny_model("cdhtk", completion_weight=1.0, **zero)
    batch = tiny_batch()
    model(**batch).loss.backward()
    transfer = model.transfer
    image = model._tower_features("image", pixel_values=batch["pixel_values"]).detach()
    text = model._tower_features("text", input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).detach()
    expected = torch.nn.Linear(text.shape[1], transfer.adapters["text"].out_features)
    expected.load_state_dict(transfer.adapters["text"].state_dict())
    # the text adapter's only path: input of completions["image"], aimed at the (fixed) image adapted vector
    with torch.no_grad():
        target = transfer.adapters["image"](image)
    ((transfer.completions["image"](expected(text)) - target) ** 2).mean().backward()
    assert torch.allclose(transfer.adapters["text"].weight.grad, expected.weight.grad, atol=1e-6)


def test_differential_loss_is_a_scale_free_decorrelation():
    generator = torch.Generator().manual_seed(0)
    specific = torch.randn(64, 8, generator=generator)
    mixed = 0.3 * specific[:, [1, 0, 3, 2, 5, 4, 7, 6]] + torch.randn(64, 8, generator=generator)
    assert torch.isclose(differential_loss(specific, mixed), _squared_correlations(specific, mixed), atol=1e-5)
    assert torch.isclose(differential_loss(specific, 5 * mixed - 2), differential_loss(specific, mixed), atol=1e-5)
    assert differential_loss(specific, specific) >= 1.0  # repeating the specific code costs at least 1


def test_differential_loss_has_finite_gradients_when_a_bit_is_constant_in_the_batch():
    """Saturated codes make a bit exactly constant over a batch (it happened on Wiki at step 165, and the run
    stopped on a NaN loss): the loss treats it as uncorrelated and every gradient stays finite."""
    specific = torch.tensor([[1.0, 0.3], [1.0, -0.2], [1.0, 0.7], [1.0, -0.9]], requires_grad=True)  # bit 0 constant
    transferred = torch.tensor([[0.5, 1.0], [-0.5, 1.0], [0.1, 1.0], [0.2, 1.0]], requires_grad=True)  # bit 1 constant
    loss = differential_loss(specific, transferred)
    loss.backward()
    assert torch.isfinite(specific.grad).all() and torch.isfinite(transferred.grad).all()
    # only specific bit 1 against transferred bit 0 can correlate
    assert torch.isclose(loss, _squared_correlations(specific[:, 1:], transferred[:, :1]).detach() / 2, atol=1e-6)
