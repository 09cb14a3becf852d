"""Encoding lists of pictures and texts to binary codes in batches: what ``model.encode(images=..., texts=...)`` runs.

`encode_inputs` takes PIL images, arrays, file paths and strings (feature vectors for a features model) and
batches them through the processor; ``precision="ubinary"`` returns ``np.packbits(code > 0)`` rows (most
significant bit first), the layout that sentence-transformers, FAISS, Milvus, LanceDB and pgvector's ``bit(n)``
use, so codes drop into those tools unchanged. The model module calls this one, so it names the model type only
for type checkers.

Example:
    >>> from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
    >>> processor = CrossModalHashProcessor.from_texts(["a red circle", "a blue square"], text_mode="bow")
    >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=16,
    ...     text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    >>> encode_inputs(model, processor, texts=["a red circle"], precision="ubinary").shape
    (1, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from .processing import CrossModalHashProcessor

if TYPE_CHECKING:
    from .modeling_utils import CrossModalHashPreTrainedModel

__all__ = ["PRECISIONS", "encode_inputs"]

PRECISIONS = ("int8", "ubinary")


def _side_inputs(processor: CrossModalHashProcessor, side: str, batch: list[Any]) -> dict[str, Any]:
    """Processor keyword for one side's batch: pictures or image feature vectors, texts or text feature vectors."""
    return {processor.side(side).argument: batch}


def encode_inputs(
    model: "CrossModalHashPreTrainedModel",
    processor: CrossModalHashProcessor,
    *,
    images: Sequence[Any] | None = None,
    texts: Sequence[Any] | None = None,
    batch_size: int = 32,
    show_progress_bar: bool | None = None,
    precision: str = "int8",
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Codes of ``images`` (PIL images, arrays, file paths; feature vectors for a features model) and/or ``texts``.

    Returns an ``(n, bits)`` int8 array in {-1, +1} (``precision="int8"``) or ``(n, ceil(bits / 8))`` packed
    ``uint8`` rows (``precision="ubinary"``); given both ``images`` and ``texts``, a pair ``(image codes, text
    codes)``. ``show_progress_bar=None`` shows one only on a terminal.

    Example:
        >>> from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
        >>> from PIL import Image
        >>> processor = CrossModalHashProcessor.from_texts(["a red circle", "a blue square"], text_mode="bow")
        >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=12,
        ...     text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
        >>> codes = encode_inputs(model, processor, texts=["a red circle", "a blue square", "a red square"], batch_size=2)
        >>> codes.shape, codes.dtype
        ((3, 12), dtype('int8'))
        >>> packed = encode_inputs(model, processor, texts=["a red circle"], precision="ubinary")
        >>> packed.shape, bool((packed == np.packbits(codes[:1] > 0, axis=1)).all())
        ((1, 2), True)
        >>> image_codes, text_codes = encode_inputs(model, processor, images=[Image.new("RGB", (9, 9))], texts=["a"])
        >>> image_codes.shape, text_codes.shape
        ((1, 12), (1, 12))
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if images is None and texts is None:
        raise ValueError("Nothing to encode: pass images=[...] and/or texts=[...]")
    results = []
    for side, inputs in (("image", images), ("text", texts)):
        if inputs is None:
            continue
        if isinstance(inputs, str) or not isinstance(inputs, Sequence):
            raise TypeError(f"{side}s must be a list, got {type(inputs).__name__} (wrap a single {side} in a list)")
        items = list(inputs)
        encode = model.encode_image if side == "image" else model.encode_text
        chunks = [np.zeros((0, model.config.hash_bits), dtype=np.int8)]
        starts = range(0, len(items), batch_size)
        bar = tqdm(starts, desc=f"encoding {side}s", unit="batch", disable=None if show_progress_bar is None else not show_progress_bar)
        for start in bar:
            batch = processor(**_side_inputs(processor, side, items[start : start + batch_size]), return_tensors="pt")
            chunks.append(encode(**batch).cpu().numpy())
        codes = np.concatenate(chunks)
        results.append(np.packbits(codes > 0, axis=1) if precision == "ubinary" else codes)
    return results[0] if len(results) == 1 else (results[0], results[1])
