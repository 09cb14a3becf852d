"""Towers built from configs: every supported backbone family, pooling, MLP towers, pretrained starts."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoConfig, AutoModel, CLIPConfig, CLIPModel

from cmhash_hf import CrossModalHashModel
from cmhash_hf.encoders import build_encoder, pool_outputs, validate_encoder_spec

SMALL = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64}
VISION_CONFIGS = {
    "vit": ({**SMALL, "image_size": 32, "patch_size": 8}, 32),
    "clip_vision_model": ({**SMALL, "image_size": 32, "patch_size": 8}, 32),
    "resnet": ({"embedding_size": 8, "hidden_sizes": [8, 24], "depths": [1, 1]}, 24),
    "convnext": ({"hidden_sizes": [8, 20], "depths": [1, 1], "num_stages": 2}, 20),
}
TEXT_CONFIGS = {
    "bert": ({**SMALL, "vocab_size": 100}, 32),
    "clip_text_model": ({**SMALL, "vocab_size": 100, "bos_token_id": 0, "eos_token_id": 2}, 32),
}


def _spec(model_type: str, overrides: dict) -> dict:
    config = AutoConfig.for_model(model_type, **overrides).to_dict()
    return validate_encoder_spec({"kind": "hf", "config": config}, "image")


@pytest.mark.parametrize("model_type", sorted(VISION_CONFIGS))
def test_vision_towers_pool_to_their_width(model_type):
    overrides, width = VISION_CONFIGS[model_type]
    tower = build_encoder(_spec(model_type, overrides))
    assert tower.output_dim == width
    assert tower(pixel_values=torch.randn(3, 3, 32, 32)).shape == (3, width)


@pytest.mark.parametrize("model_type", sorted(TEXT_CONFIGS))
def test_text_towers_pool_to_their_width(model_type):
    overrides, width = TEXT_CONFIGS[model_type]
    tower = build_encoder(_spec(model_type, overrides))
    ids = torch.randint(3, 100, (2, 6))
    out = tower(input_ids=ids, attention_mask=torch.ones_like(ids), token_type_ids=torch.zeros_like(ids))
    assert out.shape == (2, width)


def test_mean_pooling_respects_the_attention_mask():
    class Out:
        pooler_output = None
        last_hidden_state = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])

    pooled = pool_outputs(Out(), torch.tensor([[1, 1, 0]]), "mean")
    assert pooled.tolist() == [[2.0, 3.0]]
    assert pool_outputs(Out(), None, "cls").tolist() == [[1.0, 2.0]]


def test_mean_pooling_of_a_feature_map_and_flattened_pooler():
    class Out:
        pooler_output = torch.arange(6.0).reshape(1, 6, 1, 1)
        last_hidden_state = torch.ones(1, 2, 3, 3) * torch.tensor([1.0, 5.0]).reshape(1, 2, 1, 1)

    assert pool_outputs(Out(), None, "auto").tolist() == [[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]]
    assert pool_outputs(Out(), None, "mean").tolist() == [[1.0, 5.0]]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"kind": "cnn"}, "kind must be one of"),
        ({"kind": "hf", "config": {}}, "needs 'config': a transformers config dict with a 'model_type'"),
        ({"kind": "bow", "input_dim": 0}, "needs a positive integer 'input_dim'"),
        ({"kind": "features", "input_dim": 4, "hidden_dims": [0]}, "must be a list of positive integers"),
        ({"kind": "hf", "config": {"model_type": "vit"}, "pooling": "max"}, "pooling must be one of"),
    ],
)
def test_bad_encoder_specs_name_the_problem(spec, message):
    with pytest.raises(ValueError, match=message):
        validate_encoder_spec(spec, "image")


def test_feature_towers_check_their_input_width():
    model = CrossModalHashModel.for_method(
        "dcmh",
        hash_bits=8,
        image_encoder={"kind": "features", "input_dim": 12, "hidden_dims": [16]},
        text_encoder={"kind": "bow", "input_dim": 7, "hidden_dims": [16]},
    )
    assert model.encode_image(image_features=torch.randn(2, 12)).shape == (2, 8)
    assert model.encode_text(text_features=torch.randn(2, 7)).shape == (2, 8)
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, 12\) for this model, got \(2, 10\)"):
        model.encode_image(image_features=torch.randn(2, 10))
    with pytest.raises(ValueError, match="takes 'bow' vectors of width 7: pass text_features"):
        model.encode_text(input_ids=torch.ones(1, 3, dtype=torch.long))


def test_from_encoders_pretrained_copies_local_encoders(tmp_path):
    vit = AutoModel.from_config(AutoConfig.for_model("vit", **VISION_CONFIGS["vit"][0]))
    bert = AutoModel.from_config(AutoConfig.for_model("bert", **TEXT_CONFIGS["bert"][0]))
    vit.save_pretrained(tmp_path / "vit")
    bert.save_pretrained(tmp_path / "bert")
    model = CrossModalHashModel.from_encoders_pretrained(
        "dcmh", vision=str(tmp_path / "vit"), text=str(tmp_path / "bert"), hash_bits=16
    )
    for tower, source in ((model.image_tower, vit), (model.text_tower, bert)):
        for name, value in source.state_dict().items():
            assert torch.equal(tower.model.state_dict()[name], value), name
    assert model.config.image_encoder["name_or_path"] == str(tmp_path / "vit")
    assert model.config.text_encoder["pooling"] == "mean"
    # the whole model round-trips without touching the encoder folders again
    model.save_pretrained(tmp_path / "hash")
    (tmp_path / "vit" / "model.safetensors").unlink()
    reloaded = CrossModalHashModel.from_pretrained(tmp_path / "hash")
    pixels = torch.randn(2, 3, 32, 32)
    assert torch.equal(reloaded.encode_image(pixel_values=pixels), model.encode_image(pixel_values=pixels))


def test_a_clip_checkpoint_supplies_both_towers(tmp_path):
    clip = CLIPModel(CLIPConfig(text_config=TEXT_CONFIGS["clip_text_model"][0], vision_config=VISION_CONFIGS["clip_vision_model"][0], projection_dim=16))
    clip.save_pretrained(tmp_path / "clip")
    model = CrossModalHashModel.from_encoders_pretrained("dcmh", vision=str(tmp_path / "clip"), text=str(tmp_path / "clip"), hash_bits=8)
    assert model.config.image_encoder["config"]["model_type"] == "clip_vision_model"
    assert model.config.text_encoder["config"]["model_type"] == "clip_text_model"
    expected = clip.vision_model.embeddings.patch_embedding.weight
    assert torch.equal(model.text_tower.model.embeddings.token_embedding.weight, clip.text_model.embeddings.token_embedding.weight)
    assert torch.equal(model.image_tower.model.embeddings.patch_embedding.weight, expected)


def test_missing_pretrained_encoder_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="Could not load the image encoder"):
        CrossModalHashModel.from_encoders_pretrained("dcmh", vision=str(tmp_path / "nothing"), text=None)
