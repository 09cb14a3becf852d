"""Searching a `Collection` with a trained model: free text → pictures, a picture → texts or pictures.

Example:
    >>> import tempfile
    >>> from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
    >>> from cmhash_hf.retrieval.collection import Collection, CollectionWriter
    >>> texts = ["a red circle", "a blue star", "a green square"]
    >>> processor = CrossModalHashProcessor.from_texts(texts, text_mode="bow")
    >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=8,
    ...     text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    >>> writer = CollectionWriter(tempfile.mkdtemp() + "/captions", 8, sides=("text",), info={"source": "texts"})
    >>> writer.add(text_codes=text_codes(model, processor, texts), texts=texts)
    >>> collection = Collection.load(writer.finish())
    >>> hits = collection.search_texts(text_codes(model, processor, ["a red circle"]), k=3)
    >>> hits[0].distance, sorted(hit.text for hit in hits) == sorted(texts)
    (0, True)
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from .processing import CrossModalHashProcessor
from .retrieval.collection import Collection, Hit


def text_codes(model: Any, processor: CrossModalHashProcessor, texts: list[str]) -> np.ndarray:
    """int8 codes of free texts."""
    return model.encode_text(**processor(text=list(texts), return_tensors="pt")).numpy()


def image_codes(model: Any, processor: CrossModalHashProcessor, pictures: list[Any]) -> np.ndarray:
    """int8 codes of pictures (PIL images or arrays), or of image feature vectors for a features model."""
    argument = processor.side("image").argument
    return model.encode_image(**processor(**{argument: list(pictures)}, return_tensors="pt")).numpy()


def text_to_images(model: Any, processor: CrossModalHashProcessor, collection: Collection, text: str, k: int = 5) -> list[Hit]:
    """The ``k`` pictures of ``collection`` nearest to a free-text query."""
    return collection.search_images(text_codes(model, processor, [text]), k)


def image_to_texts(model: Any, processor: CrossModalHashProcessor, collection: Collection, picture: Image.Image | Any,
                   k: int = 5) -> list[Hit]:
    """The ``k`` texts of ``collection`` nearest to a picture (or an image feature vector)."""
    return collection.search_texts(image_codes(model, processor, [picture]), k)


def image_to_images(model: Any, processor: CrossModalHashProcessor, collection: Collection, picture: Image.Image | Any,
                    k: int = 5) -> list[Hit]:
    """The ``k`` pictures of ``collection`` nearest to a picture."""
    return collection.search_images(image_codes(model, processor, [picture]), k)
