"""Named tower set-ups ("presets") and the function that sizes towers and processor from a dataset.

- ``tiny``: a random tiny ViT (32 px) and a random tiny BERT with a WordPiece tokenizer trained locally on the
  training texts. For tests: seconds per epoch on a CPU.
- ``cpu``: the demo's default: a small random ResNet (48 px) and a bag-of-words MLP text tower; trains to a
  high mAP on ``builtin:shapes`` in a few minutes on 2 CPU cores.
- ``cpu64``: the same towers at 64 px, the size ``builtin:shapes`` draws its pictures at (the ResNet stem
  divides the side by 4, so at 48 px a shape is 3-5 feature cells wide); the demo's preset, trained with
  ``--image-augmentation dihedral`` (see ``benchmarks/demo_shapes.md`` for what each setting did to shape mAP).

Feature datasets (``image_features`` / ``text_features`` columns, e.g. Wiki) always get ``features`` MLP towers
sized from the data, whatever the preset (hidden widths ``feature_hidden_dims``), and their inputs transformed
(`cmhash_hf.feature_transforms`: z-scored with the training set's statistics by default; saved in the processor).
Starting from pretrained encoders is
`CrossModalHashModel.from_encoders_pretrained`, not a preset.

Example:
    >>> sorted(PRESETS)
    ['cpu', 'cpu64', 'tiny']
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..feature_transforms import FeatureTransform
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
PRESETS["cpu64"] = dataclasses.replace(
    PRESETS["cpu"], description="random small ResNet (64 px) + bag-of-words MLP text tower", image_size=64
)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name is a clear `ValueError`."""
    if name not in PRESETS:
        raise ValueError(f"Unknown preset {name!r}; available presets: {', '.join(sorted(PRESETS))}.")
    return PRESETS[name]


def build_processor(
    preset_name: str,
    train_texts: list[str] | None,
    train_image_features: np.ndarray | None = None,
    train_text_features: np.ndarray | None = None,
    image_feature_transform: str = "standardize",
    text_feature_transform: str = "standardize",
    image_processor: Any = None,
    tokenizer: Any = None,
    max_length: int | None = None,
    pad_to_max_length: bool = False,
) -> CrossModalHashProcessor:
    """The processor of a new run: the preset's image processor and text vocabulary (trained on ``train_texts``),
    or checks of feature vectors where the dataset has ``image_features`` / ``text_features`` (given here as the
    training rows), followed by the named transforms fitted on those rows (see `FeatureTransform`).

    ``image_processor`` / ``tokenizer`` (a pretrained encoder's own) replace the preset's side; ``max_length``
    (tokens kept per text) defaults to the preset's; ``pad_to_max_length`` pads a tokenizer side's texts to
    ``max_length`` tokens rather than to each batch's longest (see `TokenSide`)."""
    preset = get_preset(preset_name)
    kwargs: dict[str, Any] = {"max_length": max_length or preset.max_length, "pad_to_max_length": pad_to_max_length}
    if image_processor is not None:
        kwargs["image_processor"] = image_processor
    elif train_image_features is not None:
        kwargs["image_feature_dim"] = train_image_features.shape[1]
        kwargs["image_feature_transform"] = FeatureTransform.fit(train_image_features, image_feature_transform)
    else:
        kwargs["image_processor"] = make_image_processor(preset.image_size)
    if tokenizer is not None:
        kwargs["tokenizer"] = tokenizer
    elif train_text_features is not None:
        kwargs["text_feature_dim"] = train_text_features.shape[1]
        kwargs["text_feature_transform"] = FeatureTransform.fit(train_text_features, text_feature_transform)
    elif not train_texts:
        raise ValueError("The dataset has neither text_features nor texts to build a text vocabulary from.")
    elif preset.text_mode == "tokenizer":
        kwargs["tokenizer"] = train_wordpiece_tokenizer(train_texts, preset.text_vocab_size, kwargs["max_length"])
    else:
        kwargs["bow_vocabulary"] = build_bow_vocabulary(train_texts, max_words=preset.text_vocab_size)
    return CrossModalHashProcessor(**kwargs)


def encoder_specs(
    preset_name: str, processor: CrossModalHashProcessor, feature_hidden_dims: tuple[int, ...] = (512,)
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The (image, text) encoder specs that fit ``processor``: the preset's towers for pictures and raw text
    (text tower sized to the processor's vocabulary), ``features`` MLPs for vector inputs.

    Each side of the processor belongs to a tower kind (`InputSide.kind`); a preset knows towers of the built-in
    kinds only, so a side of another kind is a `ValueError` (build that model's config yourself)."""
    preset = get_preset(preset_name)
    specs = []
    for modality in ("image", "text"):
        side = processor.side(modality)
        if side.kind == "features":
            spec = {"kind": "features", "input_dim": side.width, "hidden_dims": list(feature_hidden_dims)}
        elif side.kind == "bow":
            spec = {"kind": "bow", "input_dim": side.vocab_size, "hidden_dims": list(preset.text_hidden_dims)}
        elif side.kind == "hf" and modality == "image":
            config = copy.deepcopy(preset.image_config)
            if "image_size" in config:
                config["image_size"] = preset.image_size
            spec = {"kind": "hf", "config": config, "pooling": "auto"}
        elif side.kind == "hf":
            config = copy.deepcopy(preset.text_config or TINY_BERT)
            config["vocab_size"] = side.vocab_size
            config["pad_token_id"] = side.tokenizer.pad_token_id
            spec = {"kind": "hf", "config": config, "pooling": "auto"}
        else:
            raise ValueError(f"The preset {preset_name!r} has no tower for a {side.kind!r} {modality} side; build the "
                             "model's encoder specs for that kind yourself.")
        specs.append(spec)
    return specs[0], specs[1]
