"""Picture augmentation of training batches: each picture gets one symmetry of the square, reproducibly."""

from __future__ import annotations

import json

import pytest
import torch

from cmhash_hf.cli import main
from cmhash_hf.training import HashTrainingArguments
from cmhash_hf.training.augmentation import augment_pixels, augmentation_generator


def _symmetries(picture: torch.Tensor) -> list[torch.Tensor]:
    """The 8 images of a (channels, n, n) picture under rotations by k·90° and a mirror, by index arithmetic."""
    n = picture.shape[-1]
    rows, cols = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
    maps = []
    for mirror in (False, True):
        c0 = (n - 1 - cols) if mirror else cols
        r, c = rows, c0
        for _ in range(4):
            maps.append((r.clone(), c.clone()))
            r, c = c, n - 1 - r  # one more quarter turn
    return [picture[:, r, c] for r, c in maps]


def test_dihedral_gives_each_picture_one_of_its_eight_symmetries_independently():
    pixels = torch.arange(64 * 3 * 5 * 5, dtype=torch.float32).reshape(64, 3, 5, 5)
    out = augment_pixels(pixels, "dihedral", augmentation_generator(seed=0, global_step=7))
    chosen = []
    for picture, augmented in zip(pixels, out):
        matches = [i for i, s in enumerate(_symmetries(picture)) if torch.equal(s, augmented)]
        assert len(matches) == 1
        chosen.append(matches[0])
    assert len(set(chosen)) == 8  # 64 independent draws hit all 8 symmetries
    again = augment_pixels(pixels, "dihedral", augmentation_generator(seed=0, global_step=7))
    assert torch.equal(out, again)  # the same seed and step give the same batch (a resumed run matches)
    other = augment_pixels(pixels, "dihedral", augmentation_generator(seed=0, global_step=8))
    assert not torch.equal(out, other)


def test_none_is_the_identity_and_non_square_pictures_are_only_mirrored():
    pixels = torch.rand(16, 3, 4, 6)
    assert augment_pixels(pixels, "none", torch.Generator()) is pixels
    out = augment_pixels(pixels, "dihedral", torch.Generator().manual_seed(1))
    for picture, augmented in zip(pixels, out):
        assert torch.equal(augmented, picture) or torch.equal(augmented, picture.flip(-1))
    assert not torch.equal(out, pixels)


def test_bad_augmentation_settings_are_clear_errors():
    with pytest.raises(ValueError, match=r"image_augmentation must be one of \('none', 'dihedral'\), got 'jitter'"):
        augment_pixels(torch.zeros(1, 3, 2, 2), "jitter", torch.Generator())
    with pytest.raises(ValueError, match=r"image_augmentation must be one of \('none', 'dihedral'\), got 'flip'"):
        HashTrainingArguments(method="dcmh", output_dir="x", image_augmentation="flip")
    with pytest.raises(ValueError, match=r"pixel_values must be \(batch, channels, height, width\), got shape \(3, 2, 2\)"):
        augment_pixels(torch.zeros(3, 2, 2), "dihedral", torch.Generator())


def test_a_run_trained_with_dihedral_augmentation_differs_and_records_it(tmp_path):
    quick = ["train", "--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "tiny", "--bits", "8", "--epochs", "1",
             "--max-train-samples", "32", "--batch-size", "16"]
    assert main([*quick, "--output-dir", str(tmp_path / "plain")]) == 0
    assert main([*quick, "--image-augmentation", "dihedral", "--output-dir", str(tmp_path / "aug")]) == 0
    assert json.loads((tmp_path / "aug" / "training_args.json").read_text())["image_augmentation"] == "dihedral"
    from safetensors.torch import load_file

    plain, aug = (load_file(tmp_path / name / "model.safetensors") for name in ("plain", "aug"))
    image_keys = [k for k in plain if "image" in k]
    text_keys = [k for k in plain if "text" in k]
    assert image_keys and text_keys
    assert any(not torch.equal(plain[k], aug[k]) for k in image_keys)
