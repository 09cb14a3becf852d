"""CrossModalHashProcessor: each text/image mode, round trips through save/load, and clear errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from cmhash_hf import CrossModalHashProcessor
from cmhash_hf.feature_transforms import FeatureTransform
from cmhash_hf.text_vocabulary import build_bow_vocabulary, words_of

TEXTS = ["a red circle on stripes", "two blue squares", "a green star, top left", "red square and blue circle"] * 5


@pytest.fixture(scope="module")
def tokenizer_processor():
    return CrossModalHashProcessor.from_texts(TEXTS, text_mode="tokenizer", vocab_size=80)


@pytest.fixture(scope="module")
def bow_processor():
    return CrossModalHashProcessor.from_texts(TEXTS, text_mode="bow", vocab_size=50)


def test_bag_of_words_vocabulary_and_vectors(bow_processor):
    assert words_of("A red-circle, 2 times!") == ["a", "red", "circle", "2", "times"]
    assert build_bow_vocabulary(["b a", "a c", "a b"], max_words=2) == ["a", "b"]
    vocabulary = bow_processor.bow_vocabulary
    vector = bow_processor(text="RED circle, red!")["text_features"][0]
    expected = np.zeros(len(vocabulary), dtype=np.float32)
    expected[[vocabulary.index("red"), vocabulary.index("circle")]] = 1.0
    assert vector.tolist() == expected.tolist()


def test_tokenizer_mode_pads_and_frames_texts(tokenizer_processor):
    batch = tokenizer_processor(text=["red circle", "two blue squares on stripes"], return_tensors="pt")
    tokenizer = tokenizer_processor.tokenizer
    assert batch["input_ids"][:, 0].tolist() == [tokenizer.cls_token_id] * 2
    assert batch["attention_mask"].shape == batch["input_ids"].shape
    assert batch["attention_mask"][0].sum() < batch["attention_mask"][1].sum()



def test_pad_to_max_length_gives_fixed_length_inputs_that_do_not_depend_on_the_batch(tokenizer_processor, tmp_path):
    tokenizer = tokenizer_processor.tokenizer
    fixed = CrossModalHashProcessor(tokenizer=tokenizer, image_feature_dim=2, max_length=10, pad_to_max_length=True)
    short, long = "red circle", "two blue squares on stripes"
    alone, both = fixed(text=[short]), fixed(text=[short, long])
    assert alone["input_ids"].shape == (1, 10) and both["input_ids"].shape == (2, 10)
    real = len(tokenizer(short)["input_ids"])  # [CLS] red circle [SEP]
    assert alone["attention_mask"][0].tolist() == [1] * real + [0] * (10 - real)
    assert alone["input_ids"][0, real:].tolist() == [tokenizer.pad_token_id] * (10 - real)
    for key in alone:  # a text's inputs are the same alone and beside a longer text
        assert torch.equal(alone[key][0], both[key][0])
    # the default pads to the batch's longest text: the short text's inputs change with its batch
    dynamic = CrossModalHashProcessor(tokenizer=tokenizer, image_feature_dim=2, max_length=10)
    assert dynamic(text=[short])["input_ids"].shape == (1, real)
    assert dynamic(text=[short, long])["input_ids"].shape[1] > real
    # saved and loaded with the processor, and part of the side's identity (the feature-cache key)
    fixed.save_pretrained(tmp_path / "fixed")
    settings = json.loads((tmp_path / "fixed" / "cmhash_processor.json").read_text())
    assert settings["text_pad_to_max_length"] is True
    loaded = CrossModalHashProcessor.from_pretrained(tmp_path / "fixed")
    assert loaded.side("text").pad_to_max_length is True
    assert torch.equal(loaded(text=[short])["input_ids"], alone["input_ids"])
    assert loaded.side("text").identity() == fixed.side("text").identity() != dynamic.side("text").identity()
    # a processor saved before the setting existed loads with dynamic padding
    del settings["text_pad_to_max_length"]
    (tmp_path / "fixed" / "cmhash_processor.json").write_text(json.dumps(settings))
    old = CrossModalHashProcessor.from_pretrained(tmp_path / "fixed")
    assert old.side("text").pad_to_max_length is False and old(text=[short])["input_ids"].shape == (1, real)
    with pytest.raises(TypeError, match="pad_to_max_length must be True or False, got str"):
        CrossModalHashProcessor(tokenizer=tokenizer, image_feature_dim=2, pad_to_max_length="yes")

def test_images_are_resized_and_normalised(bow_processor, tmp_path):
    white = Image.new("RGB", (50, 20), (255, 255, 255))
    white.save(tmp_path / "white.png")
    batch = bow_processor(images=[white, str(tmp_path / "white.png"), np.zeros((8, 8, 3), dtype=np.uint8)])
    assert batch["pixel_values"].shape == (3, 3, 32, 32)
    assert torch.allclose(batch["pixel_values"][0], torch.ones(3, 32, 32))
    assert torch.allclose(batch["pixel_values"][2], -torch.ones(3, 32, 32))
    assert torch.equal(batch["pixel_values"][0], batch["pixel_values"][1])


@pytest.mark.parametrize("mode", ["tokenizer", "bow"])
def test_save_and_load_give_identical_outputs(mode, tokenizer_processor, bow_processor, tmp_path):
    processor = tokenizer_processor if mode == "tokenizer" else bow_processor
    written = processor.save_pretrained(tmp_path)
    assert "cmhash_processor.json" in written
    loaded = CrossModalHashProcessor.from_pretrained(tmp_path)
    assert (loaded.text_mode, loaded.image_mode, loaded.text_vocab_size) == (mode, "pixels", processor.text_vocab_size)
    inputs = {"images": [Image.new("RGB", (40, 40), (200, 10, 10))], "text": ["a green circle"]}
    before, after = processor(**inputs), loaded(**inputs)
    assert sorted(before) == sorted(after)
    for key in before:
        assert torch.equal(before[key], after[key])


def test_feature_processor_round_trip_and_width_checks(tmp_path):
    processor = CrossModalHashProcessor(image_feature_dim=4, text_feature_dim=3)
    processor.save_pretrained(tmp_path)
    loaded = CrossModalHashProcessor.from_pretrained(tmp_path)
    batch = loaded(image_features=[[1, 2, 3, 4]], text_features=[[0.5, 0, 1]])
    assert batch["image_features"].tolist() == [[1.0, 2.0, 3.0, 4.0]] and batch["text_features"].dtype == torch.float32
    with pytest.raises(ValueError, match=r"image_features must have shape \(batch, 4\), got \(1, 5\)"):
        loaded(image_features=[[1, 2, 3, 4, 5]])
    with pytest.raises(ValueError, match="takes feature vectors of width 4 \\(image_features=...\\), not pictures"):
        loaded(images=[Image.new("RGB", (4, 4))])
    with pytest.raises(ValueError, match="holds NaN or infinite values"):
        loaded(text_features=[[np.nan, 0, 0]])


@pytest.mark.parametrize(
    "kind, image_row, expected",
    [
        # training rows [[0, 4], [4, 4]]: column means (2, 4), population stds (2, 0 → counted as 1)
        ("standardize", [6.0, 1.0], [2.0, -3.0]),
        # square roots [[0, 2], [2, 2]]: means (1, 2), stds (1, 0 → 1)
        ("sqrt-standardize", [9.0, 1.0], [2.0, -1.0]),
        ("sqrt", [9.0, 1.0], [3.0, 1.0]),
        ("none", [9.0, 1.0], [9.0, 1.0]),
    ],
)
def test_feature_transforms_match_hand_computed_values_and_survive_save_load(kind, image_row, expected, tmp_path):
    transform = FeatureTransform.fit([[0.0, 4.0], [4.0, 4.0]], kind)
    processor = CrossModalHashProcessor(image_feature_dim=2, text_feature_dim=1, image_feature_transform=transform)
    processor.save_pretrained(tmp_path)
    loaded = CrossModalHashProcessor.from_pretrained(tmp_path)
    batch = loaded(image_features=[image_row], text_features=[[0.25]])
    assert batch["image_features"].tolist() == [expected] and batch["text_features"].tolist() == [[0.25]]
    assert loaded.image_feature_transform.kind == kind


def test_feature_transform_errors_are_clear():
    transform = FeatureTransform.fit([[0.0, 2.0], [2.0, 2.0]], "standardize")
    with pytest.raises(ValueError, match="image_feature_transform has width 2 but the feature vectors have width 3"):
        CrossModalHashProcessor(image_feature_dim=3, text_feature_dim=1, image_feature_transform=transform)
    with pytest.raises(ValueError, match="needs a \\(rows, width\\) matrix with at least 2 rows"):
        FeatureTransform.fit([[1.0, 2.0]])
    with pytest.raises(ValueError, match="Unknown feature transform 'log'"):
        FeatureTransform.fit([[1.0], [2.0]], "log")
    sqrt = CrossModalHashProcessor(image_feature_dim=1, text_feature_dim=1,
                                   image_feature_transform=FeatureTransform.fit([[1.0], [4.0]], "sqrt"))
    with pytest.raises(ValueError, match="sqrt feature transform needs non-negative features"):
        sqrt(image_features=[[-1.0]])


def test_bad_inputs_give_one_clear_error(bow_processor, tmp_path):
    corrupt = tmp_path / "broken.jpg"
    corrupt.write_bytes(b"not a jpeg at all")
    with pytest.raises(ValueError, match=r"Image 1 \(.*broken.jpg\) could not be read as a picture"):
        bow_processor(images=[Image.new("RGB", (8, 8)), corrupt])
    with pytest.raises(FileNotFoundError, match="Image 0: no file at"):
        bow_processor(images=[tmp_path / "missing.png"])
    with pytest.raises(ValueError, match="Text 1 is empty"):
        bow_processor(text=["a red circle", "   "])
    with pytest.raises(ValueError, match=r"differ in length \(images: 1, text: 2\)"):
        bow_processor(images=[Image.new("RGB", (8, 8))], text=["a", "b"])
    with pytest.raises(ValueError, match="Nothing to process"):
        bow_processor()


def test_loading_a_folder_without_processor_is_a_clear_error(tmp_path):
    with pytest.raises(OSError, match="holds no cmhash-hf processor: cmhash_processor.json was not found"):
        CrossModalHashProcessor.from_pretrained(tmp_path)


def test_wordpiece_vocabulary_is_deterministic_and_spells_out_unknown_words():
    from cmhash_hf.text_vocabulary import train_wordpiece_tokenizer

    first, second = train_wordpiece_tokenizer(TEXTS, 60), train_wordpiece_tokenizer(list(reversed(TEXTS)), 60)
    assert first.get_vocab() == second.get_vocab()
    assert first.tokenize("Red dot") == ["red", "d", "##o", "##t"] and first.tokenize("zoo") == ["[UNK]"]
    assert first.convert_ids_to_tokens([0, 1, 2, 3, 4]) == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
