"""`model.encode(images=..., texts=...)`: lists of PIL images, arrays, file paths and strings, in batches; packed output."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.data import load_cross_modal_dataset


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny 12-bit DCMH model with a picture processor and a bag-of-words text side, saved to a folder."""
    data = load_cross_modal_dataset("builtin:shapes", num_items=12)
    processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="bow")
    model = CrossModalHashModel.for_method("dcmh", hash_bits=12,
                                           text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    folder = tmp_path_factory.mktemp("model")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    pictures = [data.dataset[i]["image"] for i in range(7)]
    paths = []
    for i, picture in enumerate(pictures):
        paths.append(folder / f"p{i}.png")
        picture.save(paths[-1])
    return folder, data.texts()[:7], pictures, paths


def test_encode_equals_encoding_through_the_processor_in_any_batch_size(saved):
    folder, texts, pictures, paths = saved
    model = CrossModalHashModel.from_pretrained(str(folder))
    processor = CrossModalHashProcessor.from_pretrained(str(folder))
    expected_text = model.encode_text(**processor(text=texts)).numpy()
    expected_image = model.encode_image(**processor(images=pictures)).numpy()
    for batch_size in (1, 3, 100):
        image_codes, text_codes = model.encode(images=pictures, texts=texts, batch_size=batch_size)
        np.testing.assert_array_equal(text_codes, expected_text)
        np.testing.assert_array_equal(image_codes, expected_image)
    # file paths and arrays give the codes of the pictures themselves
    np.testing.assert_array_equal(model.encode(images=[str(p) for p in paths]), expected_image)
    np.testing.assert_array_equal(model.encode(images=[np.asarray(p) for p in pictures]), expected_image)
    assert expected_text.dtype == np.int8 and set(np.unique(expected_text)) <= {-1, 1}


def test_ubinary_is_packbits_most_significant_bit_first(saved):
    folder, texts, _, _ = saved
    model = CrossModalHashModel.from_pretrained(str(folder))
    codes = model.encode(texts=texts)
    packed = model.encode(texts=texts, precision="ubinary")
    assert packed.dtype == np.uint8 and packed.shape == (7, 2)
    # bit j of a code is bit (7 - j % 8) of byte j // 8; the 4 padding bits of the second byte are zero
    for row, code in zip(packed, codes):
        bits = [(row[j // 8] >> (7 - j % 8)) & 1 for j in range(12)]
        assert bits == [1 if c > 0 else 0 for c in code]
        assert row[1] & 0x0F == 0


def test_encode_needs_a_processor_when_the_model_has_no_folder_and_checks_its_input(saved):
    folder, texts, _, _ = saved
    bare = CrossModalHashModel.for_method("dcmh", hash_bits=8, text_encoder={"kind": "bow", "input_dim": 5})
    with pytest.raises(ValueError, match="was not loaded from a folder or Hub id: pass processor="):
        bare.encode(texts=["a"])
    model = CrossModalHashModel.from_pretrained(str(folder))
    with pytest.raises(ValueError, match="precision must be one of"):
        model.encode(texts=texts, precision="float")
    with pytest.raises(TypeError, match="texts must be a list, got str"):
        model.encode(texts="a red circle")
    with pytest.raises(ValueError, match="Nothing to encode"):
        model.encode()
    assert model.encode(texts=[]).shape == (0, 12)
    with torch.inference_mode():
        assert model.encode(texts=texts[:1]).shape == (1, 12)
