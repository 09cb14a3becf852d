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

KINDS = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "diamond", "hexagon", "heart", "crescent", "arrow", "semicircle",
]  # fmt: skip
COLOURS = [
    "red", "green", "blue", "yellow", "purple", "orange",
    "white", "black", "pink", "brown", "cyan", "lime",
]  # fmt: skip
# Positions (quadrants) and background textures are drawn and may be captioned, but they are not labels.

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
    "heart": r"heart",
    "crescent": r"crescent|sickle",
    "arrow": r"arrow|pointer",
    "semicircle": r"semicircle|dome",
}
COLOUR_WORDS = {
    "red": r"red|crimson|scarlet",
    "green": r"green|emerald|jade",
    "blue": r"blue|cobalt|azure",
    "yellow": r"yellow|gold|lemon",
    "purple": r"purple|violet|plum",
    "orange": r"orange|tangerine|amber",
    "white": r"snow-white|white|ivory",
    "black": r"jet-black|black|ebony",
    "pink": r"pink|rose|fuchsia",
    "brown": r"brown|chocolate|chestnut",
    "cyan": r"cyan|turquoise|aqua",
    "lime": r"lime|chartreuse",
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
    "pink": (250, 110, 195),
    "brown": (120, 60, 10),
    "cyan": (40, 205, 215),
    "lime": (145, 240, 60),
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
    assert SHAPES_LABEL_NAMES == KINDS + COLOURS
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


def test_label_structure(sample: datasets.Dataset) -> None:
    for labels, text in zip(sample["labels"], sample["text"]):
        assert labels == sorted(set(labels))
        # Kind + colour of one or two shapes: exactly 2 to 4 labels, 1-2 kinds and 1-2 colours.
        assert 2 <= len(labels) <= 4
        names = _label_names(labels)
        assert names <= set(KINDS) | set(COLOURS)
        assert 1 <= len(names & set(KINDS)) <= 2
        assert 1 <= len(names & set(COLOURS)) <= 2
        assert text.strip() == text
        assert len(text) > 0
    sizes = Counter(len(labels) for labels in sample["labels"])
    assert sorted(sizes) == [2, 3, 4]


def test_captions_agree_with_labels(sample: datasets.Dataset) -> None:
    mentioned = Counter()
    shape_counts = Counter()
    for labels, text in zip(sample["labels"], sample["text"]):
        names = _label_names(labels)
        lowered = text.lower()

        # Every shape's kind is named exactly once, so the kind mentions count the shapes.
        kinds = _matches(KIND_WORDS, lowered)
        num_shapes = len(kinds)
        assert 1 <= num_shapes <= 2, text
        assert set(kinds) == names & set(KINDS), text
        shape_counts[num_shapes] += 1

        colours = _matches(COLOUR_WORDS, lowered)
        assert colours == [] or (len(colours) == num_shapes and set(colours) == names & set(COLOURS)), text

        positions = [f"{VERTICAL[v]}_{h}" for v, h in POSITION_PATTERN.findall(lowered)]
        assert positions == [] or (len(positions) == num_shapes == len(set(positions))), text

        textures = _matches(TEXTURE_WORDS, lowered)
        assert len(set(textures)) <= 1, text

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
    # One or two shapes, each about half the time.
    assert 0.4 < shape_counts[1] / len(sample) < 0.6, shape_counts
    assert len(set(sample["text"])) >= 0.95 * len(sample)


def test_pixels_determine_colour_labels_and_agree_with_captioned_positions() -> None:
    ds = build_shapes_dataset(num_items=100, seed=1, image_size=64)
    quadrants = {
        "top_left": (slice(0, 32), slice(0, 32)),
        "top_right": (slice(0, 32), slice(32, 64)),
        "bottom_left": (slice(32, 64), slice(0, 32)),
        "bottom_right": (slice(32, 64), slice(32, 64)),
    }
    for image, labels, text in zip(ds["image"], ds["labels"], ds["text"]):
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
        # Each shape lies wholly inside its own quadrant; the other quadrants hold no shape pixels.
        occupied = {position for position, region in quadrants.items() if shape_pixels[region].any()}
        for position in occupied:
            assert shape_pixels[quadrants[position]].sum() >= 50, position
        lowered = text.lower()
        assert len(occupied) == len(_matches(KIND_WORDS, lowered)), text
        captioned = {f"{VERTICAL[v]}_{h}" for v, h in POSITION_PATTERN.findall(lowered)}
        assert not captioned or captioned == occupied, text


def test_relevant_pair_fraction_is_moderate(sample: datasets.Dataset) -> None:
    # Relevance is "shares at least one label": it must be neither near-universal nor rare.
    multi_hot = np.zeros((len(sample), len(SHAPES_LABEL_NAMES)))
    for row, labels in enumerate(sample["labels"]):
        multi_hot[row, labels] = 1
    relevant = (multi_hot @ multi_hot.T) > 0
    pairs = np.triu_indices(len(sample), k=1)
    assert 0.25 <= relevant[pairs].mean() <= 0.40


def test_every_label_is_frequent(sample: datasets.Dataset) -> None:
    counts = Counter(index for labels in sample["labels"] for index in labels)
    assert sorted(counts) == list(range(24))
    assert min(counts.values()) >= 30, {SHAPES_LABEL_NAMES[i]: n for i, n in counts.items()}


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
