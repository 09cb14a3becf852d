"""Pictures of any PIL mode, array or file path opened as RGB: what every picture goes through before a tower.

Example:
    >>> load_image(np.zeros((2, 3, 3), dtype=np.uint8), 0).size
    (3, 2)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

ImageLike = Image.Image | np.ndarray | str | os.PathLike


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
