"""Tests for the synthetic ``builtin:shapes`` generator (cmhash_hf.data.shapes)."""

from __future__ import annotations

import doctest
import re
from collections import Counter

import datasets
import numpy as np
import pytest

import cmhash_hf
from cmhash_hf.data import shapes
from cmhash_hf.data.shapes import SHAPES_LABEL_NAMES, SHAPES_VERSION, build_shapes_dataset

KINDS = ["circle", "square", "triangle", "star", "cross", "ring", "diamond", "hexagon"]
COLOURS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
POSITIONS = ["top_left", "top_right", "bottom_left", "bottom_right"]
TEXTURES = ["plain", "stripes", "dots", "grid"]

# The caption vocabulary, written out independently of the generator's tables.
KIND_WORDS = {
    "circle": r"circle|disc|disk",
    "square": r"square|box",
    "triangle": r"triangle",
    "star": r"star",
    "cross": r"cross|plus sign",
    "ring": r"ring|hoop|doughnut",
    "diamond": r"diamond|rhombus|lozenge",
    "hexagon": r"hexagon|six-sided polygon",
}
COLOUR_WORDS = {
    "red": r"red|crimson|scarlet",
    "green": r"green|emerald|lime",
    "blue": r"blue|cobalt|azure",
    "yellow": r"yellow|gold|lemon",
    "purple": r"purple|violet|plum",
    "orange": r"orange|tangerine|amber",
    "white": r"snow-white|white|ivory",
    "black": r"jet-black|black|ebony",
}
TEXTURE_WORDS = {
    "plain": r"plain|blank|uniform",
    "stripes": r"striped|stripy|stripes",
    "dots": r"dotted|spotted|polka|dots|spots",
    "grid": r"grid|gridded|lattice",
}
POSITION_PATTERN = re.compile(r"\b(top|upper|bottom|lower)[ -](left|right)\b")
VERTICAL = {"top": "top", "upper": "top", "bottom": "bottom", "lower": "bottom"}
COUNT_PATTERN = re.compile(r"\b(two|2|three|3) shapes\b")

# Shape colours as drawn (each channel jittered by at most 12 per shape).
COLOUR_RGB = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (240, 220, 30),
    "purple": (140, 40, 180),
    "orange": (250, 140, 20),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}


def _matches(words: dict[str, str], text: str) -> list[str]:
    """The label of every vocabulary match in ``text``, one entry per occurrence."""
    label_of = {}
    alternatives = []
    for label, pattern in words.items():
        for word in pattern.split("|"):
            label_of[word] = label
            alternatives.append(re.escape(word))
    regex = re.compile(r"\b(" + "|".join(alternatives) + r")\b")
    return [label_of[m.group(1)] for m in regex.finditer(text)]


def _label_names(indices: list[int]) -> set[str]:
    return {SHAPES_LABEL_NAMES[i] for i in indices}


def _image_bytes(ds: datasets.Dataset) -> list[bytes]:
    return [item["bytes"] for item in ds.cast_column("image", datasets.Image(decode=False))["image"]]


@pytest.fixture(scope="module")
def sample() -> datasets.Dataset:
    return build_shapes_dataset(num_items=500, seed=0, image_size=64)


def test_schema_and_label_names(sample: datasets.Dataset) -> None:
    assert SHAPES_LABEL_NAMES == KINDS + COLOURS + POSITIONS + TEXTURES
    assert len(SHAPES_LABEL_NAMES) == 24
    assert sample.column_names == ["image", "text", "labels"]
    assert len(sample) == 500
    features = sample.features
    assert isinstance(features["image"], datasets.Image)
    assert features["text"] == datasets.Value("string")
    assert isinstance(features["labels"], datasets.List)
    assert isinstance(features["labels"].feature, datasets.ClassLabel)
    assert features["labels"].feature.names == SHAPES_LABEL_NAMES
    description = sample.info.description
    assert "Synthetic" in description
    assert f"cmhash-hf {cmhash_hf.__version__}" in description
    assert f"version {SHAPES_VERSION}" in description
    assert "seed 0" in description


def test_same_seed_is_identical_and_other_seed_differs() -> None:
    first = build_shapes_dataset(num_items=64, seed=7, image_size=32)
    again = build_shapes_dataset(num_items=64, seed=7, image_size=32)
    other = build_shapes_dataset(num_items=64, seed=8, image_size=32)
    assert _image_bytes(first) == _image_bytes(again)
    assert first["text"] == again["text"]
    assert first["labels"] == again["labels"]
    assert sum(a != b for a, b in zip(_image_bytes(first), _image_bytes(other))) == 64
    assert first["text"] != other["text"]
    assert first["labels"] != other["labels"]


def test_smaller_dataset_is_a_prefix_of_a_larger_one() -> None:
    small = build_shapes_dataset(num_items=20, seed=3, image_size=32)
    large = build_shapes_dataset(num_items=60, seed=3, image_size=32)
    assert _image_bytes(small) == _image_bytes(large)[:20]
    assert small["text"] == large["text"][:20]
    assert small["labels"] == large["labels"][:20]


@pytest.mark.parametrize("image_size", [32, 48, 64])
def test_image_size_and_mode(image_size: int) -> None:
    ds = build_shapes_dataset(num_items=8, seed=0, image_size=image_size)
    for image in ds["image"]:
        assert image.size == (image_size, image_size)
        assert image.mode == "RGB"
        assert image.format == "PNG"


def test_label_structure_and_captions(sample: datasets.Dataset) -> None:
    for labels, text in zip(sample["labels"], sample["text"]):
        assert labels == sorted(set(labels))
        names = _label_names(labels)
        positions = names & set(POSITIONS)
        assert 1 <= len(positions) <= 3
        assert 1 <= len(names & set(KINDS)) <= len(positions)
        assert 1 <= len(names & set(COLOURS)) <= len(positions)
        assert len(names & set(TEXTURES)) == 1
        assert text.strip() == text
        assert len(text) > 0


def test_captions_agree_with_labels(sample: datasets.Dataset) -> None:
    mentioned = Counter()
    for labels, text in zip(sample["labels"], sample["text"]):
        names = _label_names(labels)
        num_shapes = len(names & set(POSITIONS))  # every shape has its own quadrant
        lowered = text.lower()

        kinds = _matches(KIND_WORDS, lowered)
        assert len(kinds) == num_shapes, text
        assert set(kinds) == names & set(KINDS), text

        colours = _matches(COLOUR_WORDS, lowered)
        assert colours == [] or (len(colours) == num_shapes and set(colours) == names & set(COLOURS)), text

        positions = [f"{VERTICAL[v]}_{h}" for v, h in POSITION_PATTERN.findall(lowered)]
        assert positions == [] or sorted(positions) == sorted(names & set(POSITIONS)), text

        textures = _matches(TEXTURE_WORDS, lowered)
        assert textures == [] or set(textures) == names & set(TEXTURES), text

        counts = COUNT_PATTERN.findall(lowered)
        assert len(counts) <= 1, text
        for word in counts:
            assert {"two": 2, "2": 2, "three": 3, "3": 3}[word] == num_shapes, text

        mentioned.update(
            {"colour": bool(colours), "position": bool(positions), "texture": bool(textures), "count": bool(counts)}
        )
    # Each optional part is sometimes mentioned and sometimes left out.
    for part in ("colour", "position", "texture"):
        assert 0 < mentioned[part] < len(sample), part
    assert mentioned["count"] > 0
    assert len(set(sample["text"])) == len(sample)


def test_pixels_determine_colour_and_position_labels() -> None:
    ds = build_shapes_dataset(num_items=100, seed=1, image_size=64)
    quadrants = {
        "top_left": (slice(0, 32), slice(0, 32)),
        "top_right": (slice(0, 32), slice(32, 64)),
        "bottom_left": (slice(32, 64), slice(0, 32)),
        "bottom_right": (slice(32, 64), slice(32, 64)),
    }
    for image, labels in zip(ds["image"], ds["labels"]):
        names = _label_names(labels)
        pixels = np.asarray(image, dtype=np.int16)
        shape_pixels = np.zeros(pixels.shape[:2], dtype=bool)
        for colour, rgb in COLOUR_RGB.items():
            close = (np.abs(pixels - np.array(rgb)) <= 30).all(axis=-1)
            shape_pixels |= close
            if colour in names:
                assert close.sum() >= 50, colour
            else:
                assert close.sum() == 0, colour
        for position, region in quadrants.items():
            if position in names:
                assert shape_pixels[region].sum() >= 50, position
            else:
                assert shape_pixels[region].sum() == 0, position


def test_every_label_is_frequent(sample: datasets.Dataset) -> None:
    counts = Counter(index for labels in sample["labels"] for index in labels)
    assert sorted(counts) == list(range(24))
    assert min(counts.values()) >= 50, {SHAPES_LABEL_NAMES[i]: n for i, n in counts.items()}


@pytest.mark.parametrize(
    "kwargs",
    [{"num_items": 0}, {"seed": -1}, {"image_size": 31}],
)
def test_invalid_arguments(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        build_shapes_dataset(**kwargs)


def test_docstring_examples_run() -> None:
    result = doctest.testmod(shapes)
    assert result.attempted >= 2
    assert result.failed == 0
