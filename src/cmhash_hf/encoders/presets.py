"""Named tower set-ups ("presets") and the function that sizes towers and processor from a dataset.

- ``tiny``: a random tiny ViT (32 px) and a random tiny BERT with a WordPiece tokenizer trained locally on the
  training texts. For tests: seconds per epoch on a CPU.
- ``cpu``: the demo's default: a small random ResNet (48 px) and a bag-of-words MLP text tower; trains to a
  high mAP on ``builtin:shapes`` in a few minutes on 2 CPU cores.

Feature datasets (``image_features`` / ``text_features`` columns, e.g. Wiki) always get ``features`` MLP towers
sized from the data, whatever the preset. Starting from pretrained encoders is
`CrossModalHashModel.from_encoders_pretrained`, not a preset.

Example:
    >>> sorted(PRESETS)
    ['cpu', 'tiny']
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from ..processing import CrossModalHashProcessor, make_image_processor
from ..text_vocabulary import build_bow_vocabulary, train_wordpiece_tokenizer
from .specs import TINY_BERT, TINY_VIT

SMALL_RESNET = {
    "model_type": "resnet",
    "num_channels": 3,
    "embedding_size": 32,
    "hidden_sizes": [32, 64, 128],
    "depths": [1, 1, 1],
    "layer_type": "basic",
    "downsample_in_first_stage": False,
}


@dataclass(frozen=True)
class Preset:
    """A tower set-up for picture + text datasets."""

    description: str
    image_size: int
    image_config: dict[str, Any]
    text_mode: str
    text_vocab_size: int
    text_config: dict[str, Any] | None = None
    text_hidden_dims: list[int] = field(default_factory=lambda: [512])
    max_length: int = 32


PRESETS: dict[str, Preset] = {
    "tiny": Preset(
        description="random tiny ViT (32 px) + random tiny BERT with a locally trained WordPiece tokenizer",
        image_size=32,
        image_config=TINY_VIT,
        text_mode="tokenizer",
        text_vocab_size=1000,
        text_config=TINY_BERT,
    ),
    "cpu": Preset(
        description="random small ResNet (48 px) + bag-of-words MLP text tower",
        image_size=48,
        image_config=SMALL_RESNET,
        text_mode="bow",
        text_vocab_size=2000,
    ),
}


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is a clear `ValueError`."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def towers_for_dataset(
    preset_name: str,
    train_texts: list[str] | None,
    image_feature_dim: int | None = None,
    text_feature_dim: int | None = None,
    feature_hidden_dims: tuple[int, ...] = (512,),
) -> tuple[CrossModalHashProcessor, dict[str, Any], dict[str, Any]]:
    """Build the processor and the two encoder specs for a dataset.

    Args:
        preset_name: the preset for picture / raw-text sides.
        train_texts: training texts (to train the tokenizer or bag of words); None when the text side is vectors.
        image_feature_dim: width of ``image_features`` when the dataset has no pictures.
        text_feature_dim: width of ``text_features`` when the text side is vectors.
        feature_hidden_dims: hidden widths of the MLP over feature vectors.

    Returns:
        ``(processor, image_encoder_spec, text_encoder_spec)``.
    """
    preset = get_preset(preset_name)
    processor_kwargs: dict[str, Any] = {"max_length": preset.max_length}
    if image_feature_dim is not None:
        image_spec = {"kind": "features", "input_dim": image_feature_dim, "hidden_dims": list(feature_hidden_dims)}
        processor_kwargs["image_feature_dim"] = image_feature_dim
    else:
        config = copy.deepcopy(preset.image_config)
        if "image_size" in config:
            config["image_size"] = preset.image_size
        image_spec = {"kind": "hf", "config": config, "pooling": "auto"}
        processor_kwargs["image_processor"] = make_image_processor(preset.image_size)
    if text_feature_dim is not None:
        text_spec = {"kind": "features", "input_dim": text_feature_dim, "hidden_dims": list(feature_hidden_dims)}
        processor_kwargs["text_feature_dim"] = text_feature_dim
    elif not train_texts:
        raise ValueError("The dataset has neither text_features nor texts to build a text vocabulary from.")
    elif preset.text_mode == "tokenizer":
        tokenizer = train_wordpiece_tokenizer(train_texts, preset.text_vocab_size, preset.max_length)
        config = copy.deepcopy(preset.text_config)
        config["vocab_size"] = len(tokenizer)
        config["pad_token_id"] = tokenizer.pad_token_id
        text_spec = {"kind": "hf", "config": config, "pooling": "auto"}
        processor_kwargs["tokenizer"] = tokenizer
    else:
        vocabulary = build_bow_vocabulary(train_texts, max_words=preset.text_vocab_size)
        text_spec = {"kind": "bow", "input_dim": len(vocabulary), "hidden_dims": list(preset.text_hidden_dims)}
        processor_kwargs["bow_vocabulary"] = vocabulary
    return CrossModalHashProcessor(**processor_kwargs), image_spec, text_spec
