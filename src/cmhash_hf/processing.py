"""`CrossModalHashProcessor`: turns pictures and texts (or feature vectors) into model inputs.

The image side is a `transformers` image processor (resize + normalise) or a check of precomputed feature
vectors; the text side is a tokenizer, a bag-of-words vocabulary, or a check of precomputed text vectors.
Feature vectors can be transformed (z-scored, square-rooted: `FeatureTransform`, fitted on the training set).

Example:
    >>> from PIL import Image
    >>> processor = CrossModalHashProcessor.from_texts(["a red circle", "a blue square"], text_mode="bow")
    >>> batch = processor(images=[Image.new("RGB", (40, 40))], text=["a red square"], return_tensors="pt")
    >>> tuple(batch["pixel_values"].shape), batch["text_features"].tolist()
    ((1, 3, 32, 32), [[1.0, 1.0, 0.0, 0.0, 1.0]])
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError
from transformers import AutoImageProcessor, AutoTokenizer, BatchFeature
from transformers.utils import cached_file

from .feature_transforms import FeatureTransform
from .file_utils import atomic_write_text
from .text_vocabulary import build_bow_vocabulary, train_wordpiece_tokenizer, words_of

PROCESSOR_FILE = "cmhash_processor.json"
BOW_VOCABULARY_FILE = "bow_vocabulary.json"
IMAGE_MODES = ("pixels", "features")
TEXT_MODES = ("tokenizer", "bow", "features")
ImageLike = Image.Image | np.ndarray | str | os.PathLike


def make_image_processor(image_size: int = 32) -> Any:
    """A resize-and-normalise image processor (mean = std = 0.5) for towers trained from scratch."""
    try:
        from transformers import ViTImageProcessorPil as ImageProcessor
    except ImportError:  # transformers releases without the PIL/torchvision split
        from transformers import ViTImageProcessor as ImageProcessor
    return ImageProcessor(size={"height": image_size, "width": image_size}, image_mean=[0.5] * 3, image_std=[0.5] * 3)


#: The background that transparent pixels are composited onto.
TRANSPARENT_BACKGROUND = (255, 255, 255)


def _to_8bit(values: np.ndarray, mode: str) -> np.ndarray:
    """Gray levels of an ``I;16*``, ``I`` or ``F`` picture as uint8: 16-bit values are scaled (65535 -> 255),
    ``I`` values are taken as 8-bit when they fit in [0, 255] and as 16-bit when in [0, 65535], ``F`` values as
    fractions when in [0, 1] and as 8-bit levels when in [0, 255]; any other range is stretched min..max."""
    values = values.astype(np.float64)
    low, high = (float(values.min()), float(values.max())) if values.size else (0.0, 0.0)
    if mode.startswith("I;16"):
        scaled = values / 257.0
    elif mode == "F" and low >= 0 and high <= 1:
        scaled = values * 255.0
    elif low >= 0 and high <= 255:
        scaled = values
    elif mode == "I" and low >= 0 and high <= 65535:
        scaled = values / 257.0
    else:
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def to_rgb(image: Image.Image) -> Image.Image:
    """An RGB copy of a picture of any mode PIL opens.

    16-bit and 32-bit gray levels are scaled to 8 bits (not clipped to white, as ``convert("RGB")`` does);
    transparent pixels (RGBA, LA, palette with transparency) are composited onto white; CMYK, YCbCr, 1, L and
    palettes go through PIL's own conversion.

    Example:
        >>> deep = Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16))
        >>> deep.mode, np.asarray(to_rgb(deep))[0, :, 0].tolist()
        ('I;16', [0, 128, 255])
        >>> half = Image.new("LA", (1, 1), (0, 128))  # black at half opacity over white
        >>> np.asarray(to_rgb(half))[0, 0].tolist()
        [127, 127, 127]
    """
    mode = image.mode
    if mode == "RGB":
        return image.copy()
    if mode.startswith("I") or mode == "F":
        return Image.fromarray(_to_8bit(np.asarray(image), mode), mode="L").convert("RGB")
    if mode == "P" and "transparency" in image.info or mode == "PA":
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "La", "RGBa", "PA"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*TRANSPARENT_BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return image.convert("RGB")


def load_image(image: ImageLike, position: int) -> Image.Image:
    """Open one image (PIL image, array or file path) as RGB (see `to_rgb`); an unreadable one is a clear
    `ValueError`."""
    if isinstance(image, Image.Image):
        return to_rgb(image)
    if isinstance(image, np.ndarray):
        try:
            return to_rgb(Image.fromarray(image))
        except (TypeError, ValueError) as err:
            raise ValueError(f"Image {position} is an array that is not a picture: {err}") from None
    if isinstance(image, (str, os.PathLike)):
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"Image {position}: no file at {path}.")
        try:
            with Image.open(path) as opened:
                return to_rgb(opened)
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"Image {position} ({path}) could not be read as a picture: {err}") from None
    raise TypeError(f"Image {position} must be a PIL image, a numpy array or a file path, got {type(image).__name__}.")


def _read_json(path: str | os.PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        raise OSError(f"{path} is not valid JSON ({err}): the processor file is damaged; save the processor "
                      "again or restore the file.") from None


@contextlib.contextmanager
def _damaged_files(source: str, what: str) -> Any:
    try:
        yield
    except Exception as err:  # tokenizers / image processors raise assorted errors on a damaged file
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OSError(f"The {what} of {source} cannot be read ({detail}): a file is damaged; save the processor "
                      "again or restore the files.") from None


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
    ) -> None:
        if (image_processor is None) == (image_feature_dim is None):
            raise ValueError("Give exactly one of image_processor (pictures) and image_feature_dim (feature vectors).")
        text_sides = [tokenizer is not None, bow_vocabulary is not None, text_feature_dim is not None]
        if sum(text_sides) != 1:
            raise ValueError("Give exactly one of tokenizer, bow_vocabulary and text_feature_dim.")
        for name, transform, width in (
            ("image_feature_transform", image_feature_transform, image_feature_dim),
            ("text_feature_transform", text_feature_transform, text_feature_dim),
        ):
            if transform is not None:
                transform.check_width(width, name)
        self.image_processor = image_processor
        self.tokenizer = tokenizer
        self.bow_vocabulary = list(bow_vocabulary) if bow_vocabulary is not None else None
        self._bow_index = {w: i for i, w in enumerate(self.bow_vocabulary or [])}
        self.image_feature_dim = image_feature_dim
        self.text_feature_dim = text_feature_dim
        self.image_feature_transform = image_feature_transform
        self.text_feature_transform = text_feature_transform
        self.max_length = max_length

    # ------------------------------------------------------------------ construction
    @property
    def image_mode(self) -> str:
        return "pixels" if self.image_processor is not None else "features"

    @property
    def text_mode(self) -> str:
        if self.tokenizer is not None:
            return "tokenizer"
        return "bow" if self.bow_vocabulary is not None else "features"

    @property
    def text_vocab_size(self) -> int | None:
        """Size of the tokenizer vocabulary or of the bag of words (None for text feature vectors)."""
        if self.tokenizer is not None:
            return len(self.tokenizer)
        return len(self.bow_vocabulary) if self.bow_vocabulary is not None else None

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
        if images is None and text is None and image_features is None and text_features is None:
            raise ValueError("Nothing to process: pass images, text, image_features or text_features.")
        data: dict[str, Any] = {}
        lengths: dict[str, int] = {}
        if images is not None:
            images = [images] if isinstance(images, (Image.Image, str, os.PathLike)) else list(images)
            data.update(self._process_images(images))
            lengths["images"] = len(images)
        if image_features is not None:
            vectors = self._check_vectors(image_features, self.image_feature_dim, "image_features")
            data["image_features"] = self.image_feature_transform(vectors) if self.image_feature_transform else vectors
            lengths["image_features"] = len(data["image_features"])
        if text is not None:
            text = [text] if isinstance(text, str) else list(text)
            data.update(self._process_texts(text))
            lengths["text"] = len(text)
        if text_features is not None:
            vectors = self._check_vectors(text_features, self.text_feature_dim, "text_features")
            data["text_features"] = self.text_feature_transform(vectors) if self.text_feature_transform else vectors
            lengths["text_features"] = len(data["text_features"])
        if len(set(lengths.values())) > 1:
            detail = ", ".join(f"{k}: {v}" for k, v in lengths.items())
            raise ValueError(f"The inputs differ in length ({detail}); images and texts must pair up one to one.")
        return BatchFeature(data=data, tensor_type=return_tensors)

    def _process_images(self, images: list[ImageLike]) -> dict[str, Any]:
        if self.image_processor is None:
            raise ValueError(
                f"This processor's image side takes feature vectors of width {self.image_feature_dim} "
                "(image_features=...), not pictures."
            )
        if not images:
            raise ValueError("The image list is empty.")
        pictures = [load_image(image, i) for i, image in enumerate(images)]
        return {"pixel_values": np.asarray(self.image_processor(images=pictures, return_tensors="np")["pixel_values"])}

    def _process_texts(self, texts: list[str]) -> dict[str, Any]:
        if not texts:
            raise ValueError("The text list is empty.")
        for i, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"Text {i} must be a string, got {type(text).__name__}.")
            if not text.strip():
                raise ValueError(f"Text {i} is empty; every text needs at least one word.")
        if self.tokenizer is not None:
            encoded = self.tokenizer(
                texts, padding=True, truncation=True, max_length=self.max_length, return_tensors="np"
            )
            return {k: np.asarray(v) for k, v in encoded.items()}
        if self.bow_vocabulary is not None:
            return {"text_features": self.bag_of_words(texts)}
        raise ValueError(
            f"This processor's text side takes feature vectors of width {self.text_feature_dim} "
            "(text_features=...), not raw text."
        )

    def bag_of_words(self, texts: Sequence[str]) -> np.ndarray:
        """Binary bag-of-words vectors (float32, one column per vocabulary word) of ``texts``."""
        vectors = np.zeros((len(texts), len(self.bow_vocabulary or [])), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in words_of(text):
                column = self._bow_index.get(word)
                if column is not None:
                    vectors[row, column] = 1.0
        return vectors

    @staticmethod
    def _check_vectors(values: Any, width: int | None, name: str) -> np.ndarray:
        if width is None:
            raise ValueError(f"This processor takes no {name}: its side for that modality is not feature vectors.")
        try:
            array = np.asarray(values, dtype=np.float32)
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} must be numbers: {err}") from None
        if array.ndim == 1:
            array = array[None, :]
        if array.ndim != 2 or array.shape[1] != width:
            raise ValueError(f"{name} must have shape (batch, {width}), got {array.shape}.")
        if not np.isfinite(array).all():
            raise ValueError(f"{name} holds NaN or infinite values.")
        return array

    # ------------------------------------------------------------------ saving and loading
    def to_dict(self) -> dict[str, Any]:
        return {
            "processor_class": type(self).__name__,
            "image_mode": self.image_mode,
            "text_mode": self.text_mode,
            "image_feature_dim": self.image_feature_dim,
            "text_feature_dim": self.text_feature_dim,
            "image_feature_transform": self.image_feature_transform.to_dict() if self.image_feature_transform else None,
            "text_feature_transform": self.text_feature_transform.to_dict() if self.text_feature_transform else None,
            "max_length": self.max_length,
        }

    def save_pretrained(self, save_directory: str | os.PathLike) -> list[str]:
        """Write the processor files into ``save_directory``; returns the file names written."""
        directory = Path(save_directory)
        if directory.is_file():
            raise ValueError(f"{directory} is a file; save_pretrained needs a folder.")
        directory.mkdir(parents=True, exist_ok=True)
        written = []
        if self.image_processor is not None:
            written += [Path(p).name for p in self.image_processor.save_pretrained(directory)]
        if self.tokenizer is not None:
            written += [Path(p).name for p in self.tokenizer.save_pretrained(directory)]
        if self.bow_vocabulary is not None:
            atomic_write_text(directory / BOW_VOCABULARY_FILE, json.dumps(self.bow_vocabulary))
            written.append(BOW_VOCABULARY_FILE)
        atomic_write_text(directory / PROCESSOR_FILE, json.dumps(self.to_dict(), indent=2))
        return written + [PROCESSOR_FILE]

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str | os.PathLike, **hub_kwargs: Any) -> "CrossModalHashProcessor":
        """Load a processor saved by `save_pretrained`, from a local folder or a Hub repo (through its cache).

        Raises:
            OSError: a processor file is missing, or is damaged (the message names it).
        """
        source = str(pretrained_model_name_or_path)
        settings = _read_json(cls._resolve(source, PROCESSOR_FILE, hub_kwargs))
        kwargs: dict[str, Any] = {"max_length": settings.get("max_length", 32)}
        if settings["image_mode"] == "pixels":
            with _damaged_files(source, "image processor (preprocessor_config.json)"):
                kwargs["image_processor"] = AutoImageProcessor.from_pretrained(source, **hub_kwargs)
        else:
            kwargs["image_feature_dim"] = settings["image_feature_dim"]
            if settings.get("image_feature_transform"):
                kwargs["image_feature_transform"] = FeatureTransform.from_dict(settings["image_feature_transform"])
        if settings["text_mode"] == "tokenizer":
            with _damaged_files(source, "tokenizer (tokenizer.json, tokenizer_config.json)"):
                kwargs["tokenizer"] = AutoTokenizer.from_pretrained(source, **hub_kwargs)
        elif settings["text_mode"] == "bow":
            kwargs["bow_vocabulary"] = _read_json(cls._resolve(source, BOW_VOCABULARY_FILE, hub_kwargs))
        else:
            kwargs["text_feature_dim"] = settings["text_feature_dim"]
            if settings.get("text_feature_transform"):
                kwargs["text_feature_transform"] = FeatureTransform.from_dict(settings["text_feature_transform"])
        return cls(**kwargs)

    @staticmethod
    def _resolve(source: str, filename: str, hub_kwargs: dict[str, Any]) -> str:
        try:
            path = cached_file(source, filename, **hub_kwargs)
        except OSError:
            path = None
        if path is None:
            raise OSError(f"{source} holds no cmhash-hf processor: {filename} was not found there.")
        return path

    def __repr__(self) -> str:
        return f"{type(self).__name__}(image_mode={self.image_mode!r}, text_mode={self.text_mode!r}, text_vocab_size={self.text_vocab_size})"
