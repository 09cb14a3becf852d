"""What makes DFAH DFAH: a fusion learner, and unified codes that are exactly binary closed-form sign updates."""

from __future__ import annotations

import torch

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
