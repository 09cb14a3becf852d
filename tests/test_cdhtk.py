"""What makes CDHTK CDHTK: codes that fuse each modality's part with the transfer network's part."""

from __future__ import annotations

import torch

from cmhash_hf import binarize
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
        "joint/agreement",
    }
    out.loss.backward()
    for modality in ("image", "text"):
        assert model.transfer.adapters[modality].weight.grad.abs().sum() > 0
    # encoding one image never reads the text adapter
    model.zero_grad(set_to_none=True)
    model.get_image_features(pixel_values=batch["pixel_values"]).sum().backward()
    assert model.transfer.adapters["text"].weight.grad is None
    assert model.transfer.adapters["image"].weight.grad is not None
