"""Label-preserving picture augmentation applied to training batches (``HashTrainingArguments.image_augmentation``).

- ``none``: pictures as the processor gives them.
- ``dihedral``: each picture of a batch gets one of the 8 symmetries of the square (a rotation by a multiple of
  90° and an optional mirror), drawn independently per picture. On ``builtin:shapes`` this keeps every label
  (shape kinds and colours do not change under rotation or mirroring; only the quadrants move, which are not
  labels) and multiplies the distinct training pictures by 8; without it a small image tower memorises the
  2,000 training pictures and learns colours only (see ``benchmarks/demo_shapes.md``). Non-square pictures
  are only mirrored. Do not use it where orientation carries meaning (text in pictures, left/right labels).

The draws come from a generator seeded by the run's seed and the global step, so a resumed run augments
exactly as an uninterrupted one.

Example:
    >>> import torch
    >>> pixels = torch.arange(4.0).reshape(1, 1, 2, 2)
    >>> out = augment_pixels(pixels, "dihedral", torch.Generator().manual_seed(0))
    >>> sorted(out.flatten().tolist()) == [0.0, 1.0, 2.0, 3.0], out.shape
    (True, torch.Size([1, 1, 2, 2]))
"""

from __future__ import annotations

import torch

__all__ = ["IMAGE_AUGMENTATIONS", "augment_pixels", "augmentation_generator"]

IMAGE_AUGMENTATIONS = ("none", "dihedral")


def augmentation_generator(seed: int, global_step: int) -> torch.Generator:
    """The generator of one training batch's draws (CPU; depends only on the seed and the step)."""
    return torch.Generator().manual_seed(int(seed) * 1_000_003 + int(global_step))


def augment_pixels(pixel_values: torch.Tensor, kind: str, generator: torch.Generator) -> torch.Tensor:
    """Return ``pixel_values`` ``(batch, channels, height, width)`` augmented by ``kind`` (see the module docstring).

    Example:
        >>> import torch
        >>> pixels = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]]])
        >>> augment_pixels(pixels, "none", torch.Generator()).equal(pixels)
        True
    """
    if kind not in IMAGE_AUGMENTATIONS:
        raise ValueError(f"image_augmentation must be one of {IMAGE_AUGMENTATIONS}, got {kind!r}.")
    if kind == "none":
        return pixel_values
    if pixel_values.ndim != 4:
        raise ValueError(f"pixel_values must be (batch, channels, height, width), got shape {tuple(pixel_values.shape)}.")
    batch = pixel_values.shape[0]
    square = pixel_values.shape[2] == pixel_values.shape[3]
    turns = torch.randint(0, 4 if square else 1, (batch,), generator=generator)
    mirror = torch.randint(0, 2, (batch,), generator=generator).bool()
    out = torch.where(mirror[:, None, None, None].to(pixel_values.device), pixel_values.flip(3), pixel_values)
    if square:
        rotated = [torch.rot90(out, k, dims=(2, 3)) for k in range(4)]
        choice = turns.to(pixel_values.device)[:, None, None, None]
        out = sum(torch.where(choice == k, rotated[k], torch.zeros_like(out)) for k in range(4))
    return out
