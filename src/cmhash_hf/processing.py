"""`CrossModalHashProcessor`: turns pictures and texts (or feature vectors) into model inputs.

A processor has one *side* per modality, an `InputSide` of the tower kind that modality's tower is (see
`cmhash_hf.encoders.kinds`): a `transformers` image processor or a check of precomputed feature vectors for
images; a tokenizer, a bag-of-words vocabulary, or a check of precomputed text vectors for texts. Feature vectors
can be transformed (z-scored, square-rooted: `FeatureTransform`, fitted on the training set). The processor only
routes: which keyword a side takes, which dataset column it reads and how it is saved are the side's.

Example:
    >>> from PIL import Image
    >>> processor = CrossModalHashProcessor.from_texts(["a red circle", "a blue square"], text_mode="bow")
    >>> batch = processor(images=[Image.new("RGB", (40, 40))], text=["a red square"], return_tensors="pt")
    >>> tuple(batch["pixel_values"].shape), batch["text_features"].tolist()
    ((1, 3, 32, 32), [[1.0, 1.0, 0.0, 0.0, 1.0]])
    >>> processor.side("text").kind, processor.side("text").column
    ('bow', 'text')
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from transformers import BatchFeature

from .encoders.bow import BOW_VOCABULARY_FILE, BagOfWordsSide
from .encoders.features import FeatureVectorSide
from .encoders.hf_encoder import PixelSide, TokenSide, make_image_processor
from .encoders.kinds import InputSide, read_json_file, resolve_file, side_class
from .feature_transforms import FeatureTransform
from .file_utils import atomic_write_text
from .pictures import TRANSPARENT_BACKGROUND, ImageLike, load_image, to_rgb
from .text_vocabulary import build_bow_vocabulary, train_wordpiece_tokenizer

PROCESSOR_FILE = "cmhash_processor.json"
#: Processor keywords, by the modality they belong to.
ARGUMENT_MODALITY = {"images": "image", "image_features": "image", "text": "text", "text_features": "text"}
_WHAT = {"images": "pictures", "text": "raw text", "image_features": "feature vectors (image_features)",
         "text_features": "feature vectors (text_features)"}

__all__ = ["BOW_VOCABULARY_FILE", "PROCESSOR_FILE", "TRANSPARENT_BACKGROUND", "CrossModalHashProcessor", "ImageLike",
           "load_image", "make_image_processor", "to_rgb"]


class CrossModalHashProcessor:
    """Prepares both modalities for a `CrossModalHashPreTrainedModel`.

    Args:
        image_processor: a `transformers` image processor (``image_mode="pixels"``), or None for feature vectors.
        tokenizer: a `transformers` tokenizer (``text_mode="tokenizer"``).
        bow_vocabulary: the word list of a bag-of-words text side (``text_mode="bow"``).
        image_feature_dim / text_feature_dim: widths of precomputed vectors (``"features"`` modes).
        image_feature_transform / text_feature_transform: transforms applied to those vectors after their check
            (None: passed through as given).
        max_length: the longest tokenised text (longer texts are truncated).
        pad_to_max_length: pad every tokenised text to ``max_length`` tokens instead of to the batch's longest, so
            a text's model inputs do not depend on its batch (`TokenSide`; runs with frozen encoders use it).
    """

    def __init__(
        self,
        image_processor: Any = None,
        tokenizer: Any = None,
        bow_vocabulary: Sequence[str] | None = None,
        image_feature_dim: int | None = None,
        text_feature_dim: int | None = None,
        image_feature_transform: FeatureTransform | None = None,
        text_feature_transform: FeatureTransform | None = None,
        max_length: int = 32,
        *,
        pad_to_max_length: bool = False,
        image_side: InputSide | None = None,
        text_side: InputSide | None = None,
    ) -> None:
        image_given = [image_processor is not None, image_feature_dim is not None, image_side is not None]
        if sum(image_given) != 1:
            raise ValueError("Give exactly one of image_processor (pictures) and image_feature_dim (feature vectors) "
                             "(or an image_side).")
        text_given = [tokenizer is not None, bow_vocabulary is not None, text_feature_dim is not None,
                      text_side is not None]
        if sum(text_given) != 1:
            raise ValueError("Give exactly one of tokenizer, bow_vocabulary and text_feature_dim (or a text_side).")
        if image_side is None:
            image_side = (PixelSide(image_processor, "image") if image_processor is not None
                          else FeatureVectorSide(image_feature_dim, image_feature_transform, "image"))
        if text_side is None:
            if tokenizer is not None:
                text_side = TokenSide(tokenizer, max_length, "text", pad_to_max_length=pad_to_max_length)
            elif bow_vocabulary is not None:
                text_side = BagOfWordsSide(bow_vocabulary, "text")
            else:
                text_side = FeatureVectorSide(text_feature_dim, text_feature_transform, "text")
        for modality, side in (("image", image_side), ("text", text_side)):
            if not isinstance(side, InputSide) or side.modality != modality:
                raise ValueError(f"The {modality} side must be an InputSide for the {modality} modality, got {side!r}.")
        self.sides = {"image": image_side, "text": text_side}
        self.max_length = getattr(text_side, "max_length", max_length)

    def side(self, modality: str) -> InputSide:
        """The `InputSide` of ``"image"`` or ``"text"``."""
        if modality not in self.sides:
            raise ValueError(f"modality must be 'image' or 'text', got {modality!r}.")
        return self.sides[modality]

    # ------------------------------------------------------------------ what each side is
    def _side_attribute(self, modality: str, name: str) -> Any:
        return getattr(self.sides[modality], name, None)

    @property
    def image_processor(self) -> Any:
        """The `transformers` image processor of a picture side, else None."""
        return self._side_attribute("image", "image_processor")

    @property
    def tokenizer(self) -> Any:
        """The tokenizer of a tokenizer text side, else None."""
        return self._side_attribute("text", "tokenizer")

    @property
    def bow_vocabulary(self) -> list[str] | None:
        """The word list of a bag-of-words text side, else None."""
        return self._side_attribute("text", "vocabulary")

    @property
    def image_feature_dim(self) -> int | None:
        return self._side_attribute("image", "width")

    @property
    def text_feature_dim(self) -> int | None:
        return self._side_attribute("text", "width")

    @property
    def image_feature_transform(self) -> FeatureTransform | None:
        return self._side_attribute("image", "transform")

    @property
    def text_feature_transform(self) -> FeatureTransform | None:
        return self._side_attribute("text", "transform")

    # ------------------------------------------------------------------ construction
    @property
    def image_mode(self) -> str:
        """The image side's name (``pixels``, ``features``, or that of a registered kind's side)."""
        return self.sides["image"].mode

    @property
    def text_mode(self) -> str:
        """The text side's name (``tokenizer``, ``bow``, ``features``, or that of a registered kind's side)."""
        return self.sides["text"].mode

    @property
    def text_vocab_size(self) -> int | None:
        """Size of the tokenizer vocabulary or of the bag of words (None for text feature vectors)."""
        return self.sides["text"].vocab_size

    @classmethod
    def from_texts(
        cls,
        texts: Sequence[str],
        text_mode: str = "tokenizer",
        vocab_size: int = 1000,
        image_size: int = 32,
        max_length: int = 32,
    ) -> "CrossModalHashProcessor":
        """A processor for pictures plus a text side trained locally on ``texts`` (WordPiece or bag of words)."""
        if text_mode == "tokenizer":
            text_side = {"tokenizer": train_wordpiece_tokenizer(texts, vocab_size=vocab_size, max_length=max_length)}
        elif text_mode == "bow":
            text_side = {"bow_vocabulary": build_bow_vocabulary(texts, max_words=vocab_size)}
        else:
            raise ValueError(f"from_texts builds a 'tokenizer' or 'bow' text side, not {text_mode!r}.")
        return cls(image_processor=make_image_processor(image_size), max_length=max_length, **text_side)

    # ------------------------------------------------------------------ processing
    def __call__(
        self,
        images: Sequence[ImageLike] | ImageLike | None = None,
        text: Sequence[str] | str | None = None,
        image_features: Any = None,
        text_features: Any = None,
        return_tensors: str | None = "pt",
    ) -> BatchFeature:
        """Process a batch. Images and texts given together must pair up (same length)."""
        given = {name: value for name, value in (("images", images), ("image_features", image_features),
                                                   ("text", text), ("text_features", text_features))
                 if value is not None}
        if not given:
            raise ValueError("Nothing to process: pass images, text, image_features or text_features.")
        data: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        for name, value in given.items():
            side = self.sides[ARGUMENT_MODALITY[name]]
            if name != side.argument:
                raise ValueError(f"This processor's {side.modality} side takes {side.takes} ({side.argument}=...), "
                                 f"not {_WHAT[name]}.")
            outputs, lengths[name] = side(value)
            data.update(outputs)
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"The inputs differ in length ({detail}); images and texts must pair up one to one.")
        return BatchFeature(data=data, tensor_type=return_tensors)

    def bag_of_words(self, texts: Sequence[str]) -> np.ndarray:
        """Binary bag-of-words vectors (float32, one column per vocabulary word) of ``texts``."""
        side = self.sides["text"]
        if not isinstance(side, BagOfWordsSide):
            raise ValueError(f"This processor's text side is {side.mode!r}, not a bag of words.")
        return side.bag_of_words(texts)

    # ------------------------------------------------------------------ saving and loading
    def to_dict(self) -> dict[str, Any]:
        settings = {
            "processor_class": type(self).__name__,
            "image_mode": self.image_mode,
            "text_mode": self.text_mode,
            "image_feature_dim": None,
            "text_feature_dim": None,
            "image_feature_transform": None,
            "text_feature_transform": None,
            "max_length": self.max_length,
        }
        for side in self.sides.values():
            settings.update(side.to_dict())
        return settings

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        """Write the processor files into ``save_directory``; returns the file names written."""
        directory = Path(save_directory)
        if directory.is_file():
            raise ValueError(f"{directory} is a file; save_pretrained needs a folder.")
        directory.mkdir(parents=True, exist_ok=True)
        written = [name for side in self.sides.values() for name in side.save(directory)]
        atomic_write_text(directory / PROCESSOR_FILE, json.dumps(self.to_dict(), indent=2))
        return written + [PROCESSOR_FILE]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> "CrossModalHashProcessor":
        """Load a processor saved by `save_pretrained`, from a local folder or a Hub repo (through its cache).

        Raises:
            OSError: a processor file is missing, or is damaged (the message names it).
        """
        source = str(pretrained_model_name_or_path)
        settings = read_json_file(resolve_file(source, PROCESSOR_FILE, hub_kwargs))
        sides = {modality: side_class(settings[f"{modality}_mode"]).load(modality, source, settings, hub_kwargs)
                 for modality in ("image", "text")}
        return cls(image_side=sides["image"], text_side=sides["text"], max_length=settings.get("max_length", 32))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_mode={self.image_mode!r}, text_mode={self.text_mode!r}, text_vocab_size={self.text_vocab_size})"
