"""Table-driven tests of every registered method (rows in method_cases.METHOD_CASES)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from transformers import AutoModel, BertConfig, BertModel

from cmhash_hf import AutoConfig, CrossModalHashModel, CrossModalHashOutput, get_method, list_methods
from method_cases import BATCH, HASH_BITS, METHOD_CASES, NUM_CLASSES, tiny_batch, tiny_config, tiny_model


def test_every_registered_method_has_a_test_row():
    assert sorted(METHOD_CASES) == list_methods()


def test_registry_and_auto_classes(method_name):
    config_class, model_class = get_method(method_name)
    config = AutoConfig.for_model(method_name, hash_bits=24)
    assert type(config) is config_class and config.model_type == method_name and config.hash_bits == 24
    assert type(CrossModalHashModel.from_config(config)) is model_class
    # each method documents what it implements, from which paper, and where it had to choose
    module_doc = sys.modules[model_class.__module__].__doc__
    assert "What is implemented" in module_doc and "Our reading" in module_doc


def test_forward_shapes_and_codes(model):
    batch = tiny_batch()
    out = model(**batch)
    assert isinstance(out, CrossModalHashOutput)
    assert out.image_embeds.shape == out.text_embeds.shape == (BATCH, HASH_BITS)
    assert out.loss.dim() == 0 and torch.isfinite(out.loss)
    for codes in (out.image_codes, out.text_codes):
        assert codes.dtype == torch.int8 and codes.shape == (BATCH, HASH_BITS)
        assert set(codes.unique().tolist()) <= {-1, 1}
    assert torch.equal(out.image_codes, torch.where(out.image_embeds >= 0, 1, -1).to(torch.int8))


def test_encode_returns_plus_minus_one_int8_never_zero(model):
    batch = tiny_batch()
    image = model.encode_image(pixel_values=batch["pixel_values"])
    text = model.encode_text(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    for codes in (image, text):
        assert codes.dtype == torch.int8 and codes.shape == (BATCH, HASH_BITS)
        assert ((codes == 1) | (codes == -1)).all()
    # zero continuous outputs map to +1: force them through a zeroed hash projection
    with torch.no_grad():
        for p in model.image_hash.parameters():
            p.zero_()
    assert (model.encode_image(pixel_values=batch["pixel_values"]) == 1).all()


def test_save_load_gives_bit_identical_codes(model, tmp_path):
    batch = tiny_batch(seed=3)
    model.eval()
    before = (model.encode_image(pixel_values=batch["pixel_values"]), model.encode_text(input_ids=batch["input_ids"]))
    embeds = model.get_image_features(pixel_values=batch["pixel_values"])
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "config.json").is_file()
    for loader in (CrossModalHashModel.from_pretrained, AutoModel.from_pretrained, type(model).from_pretrained):
        loaded = loader(tmp_path)
        assert type(loaded) is type(model)
        assert torch.equal(loaded.encode_image(pixel_values=batch["pixel_values"]), before[0])
        assert torch.equal(loaded.encode_text(input_ids=batch["input_ids"]), before[1])
        assert torch.equal(loaded.get_image_features(pixel_values=batch["pixel_values"]), embeds)
        assert loaded.dtype == torch.float32


def test_gradients_reach_both_towers(model):
    model.train()
    out = model(**tiny_batch())
    out.loss.backward()
    for tower in (model.image_tower, model.text_tower):
        grads = [p.grad for p in tower.parameters() if p.grad is not None]
        assert grads and sum(float(g.abs().sum()) for g in grads) > 0


def test_every_training_step_has_a_loss_and_parameters(model):
    batch = tiny_batch()
    state = model.init_training_state(batch["labels"] if model.uses_labels else None, BATCH)
    for step in model.training_steps:
        assert model.step_parameters(step)
        out = model(**batch, training_step=step, training_state=state, sample_index=torch.arange(BATCH))
        assert torch.isfinite(out.loss)
        model.update_training_state(state, step, out.image_embeds, out.text_embeds, torch.arange(BATCH))


def test_labels_of_wrong_width_are_a_clear_error(model):
    batch = tiny_batch()
    batch["labels"] = torch.zeros(BATCH, NUM_CLASSES + 2)
    with pytest.raises(ValueError, match=f"labels have width {NUM_CLASSES + 2} but this model was configured for {NUM_CLASSES}"):
        model(**batch)


def test_image_and_text_batches_of_different_length_are_a_clear_error(model):
    batch = tiny_batch()
    batch["input_ids"] = batch["input_ids"][:2]
    batch["attention_mask"] = batch["attention_mask"][:2]
    batch.pop("labels")
    with pytest.raises(ValueError, match=r"image batch \(4 items\) and the text batch \(2 items\) differ"):
        model(**batch, return_loss=False)


def test_wrong_inputs_name_the_problem(model):
    with pytest.raises(ValueError, match=r"pixel_values must have shape \(batch, 3, height, width\)"):
        model.encode_image(pixel_values=torch.zeros(2, 32, 32))
    with pytest.raises(ValueError, match="pass pixel_values"):
        model.encode_image(image_features=torch.zeros(2, 10))
    with pytest.raises(ValueError, match="input_ids holds token id 5000 but the text tower's vocabulary has 1000"):
        model.encode_text(input_ids=torch.full((1, 4), 5000))
    with pytest.raises(TypeError, match="unexpected inputs"):
        model.encode_text(input_ids=torch.ones(1, 3, dtype=torch.long), colour="red")


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="Unknown hashing method 'nosuch'; available methods: .*dcmh"):
        CrossModalHashModel.for_method("nosuch")


def test_folder_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="holds no checkpoint: no config.json"):
        CrossModalHashModel.from_pretrained(tmp_path)


def test_checkpoint_of_a_non_hash_model_is_a_clear_error(tmp_path):
    BertModel(BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="holds a 'bert' checkpoint, which is not a cmhash-hf hashing model"):
        CrossModalHashModel.from_pretrained(tmp_path)


def test_checkpoint_of_another_method_is_a_clear_error(tmp_path):
    from cmhash_hf import CrossModalHashPreTrainedModel

    tiny_model("dcmh").save_pretrained(tmp_path)

    class OtherConfig(get_method("dcmh")[0]):
        model_type = "other-method"

    class OtherModel(get_method("dcmh")[1]):
        config_class = OtherConfig

    assert issubclass(OtherModel, CrossModalHashPreTrainedModel)
    with pytest.raises(ValueError, match="holds a 'dcmh' checkpoint, not a 'other-method' one"):
        OtherModel.from_pretrained(tmp_path)


def test_cannot_instantiate_the_factory():
    with pytest.raises(EnvironmentError, match="is a factory"):
        CrossModalHashModel()


@pytest.mark.parametrize("bits", [0, -3, 5000, "16"])
def test_invalid_hash_bits(bits):
    with pytest.raises(ValueError, match="hash_bits must be an integer between 1 and 4096"):
        AutoConfig.for_model("dcmh", hash_bits=bits)


def test_a_config_saved_under_earlier_field_names_loads_into_the_renamed_fields(method_name, tmp_path):
    config_class, _ = get_method(method_name)
    tiny_config(method_name).save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    expected = {}
    for old, new in config_class.renamed_fields.items():
        expected[new] = round(saved.pop(new) * 0.5 + 0.05, 4)  # a valid value other than the default
        saved[old] = expected[new]
    (tmp_path / "config.json").write_text(json.dumps(saved))
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert {new: getattr(loaded, new) for new in expected} == expected
    assert not set(config_class.renamed_fields) & set(loaded.to_dict())  # the old names are gone


def test_every_field_name_means_one_thing_across_methods():
    """A field shared by several methods has one type and one kind of meaning: a ``*_weight`` is a non-negative
    loss weight everywhere, and no earlier name of a field is a current field of any method."""
    fields = {name: get_method(name)[0].method_fields() for name in list_methods()}
    current = {field for per_method in fields.values() for field in per_method}
    for method, per_method in fields.items():
        config_class = get_method(method)[0]
        assert not set(config_class.renamed_fields) & current, method
        for field, annotation in per_method.items():
            if field.endswith("_weight"):
                assert annotation == "float", (method, field)
                with pytest.raises(ValueError, match=field):
                    config_class(**{field: -1.0})


def test_a_step_missing_an_input_is_one_error_naming_method_step_and_input(method_name):
    model = tiny_model(method_name)
    batch = tiny_batch()
    text_only = {k: v for k, v in batch.items() if k != "pixel_values"}
    if method_name == "dbrc":  # unsupervised, and a text batch alone is enough for its reconstruction loss
        assert torch.isfinite(model(**text_only, return_loss=True).loss)
        return
    pattern = rf"^{type(model).__name__}'s '\w+' step needs image inputs in the batch\.$"
    with pytest.raises(ValueError, match=pattern):
        model(**text_only)
    without_labels = {k: v for k, v in batch.items() if k != "labels"}
    with pytest.raises(ValueError, match=rf"^{type(model).__name__}'s '\w+' step needs labels in the batch\.$"):
        model(**without_labels, return_loss=True)
