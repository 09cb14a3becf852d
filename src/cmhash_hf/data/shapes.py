"""``builtin:shapes``: a small, **synthetic**, generated multi-label image–text dataset.

Nothing here is a real photograph or a human-written caption. Every picture is drawn by this module
from a seeded random generator: one or two coloured shapes (each with probability 1/2), each inside its
own quadrant, on a textured background. The 24 labels (about as many as MIRFlickr-25K has) are

* 12 shape kinds: circle, square, triangle, star, cross, ring, diamond, hexagon, heart, crescent, arrow,
  semicircle;
* 12 colours: red, green, blue, yellow, purple, orange, white, black, pink, brown, cyan, lime.

A picture's labels are the union over its shapes of kind + colour, so every item has 2 to 4 labels and
the pixels determine the labels: every shape lies wholly inside its quadrant, is large enough to stay
visible at 32×32 px, and the shape colours are far from each other and from the muted background colours.
The quadrants the shapes lie in and the background texture (plain, stripes, dots or grid) vary too, but
they are nuisance detail, *not* labels. Retrieval relevance is "shares at least one label"; with these
labels about 31% of random pairs are relevant, so a random ranking scores a mAP of about 0.31 and
learning shows clearly (with positions and textures as labels almost 90% of pairs would be relevant).

Captions describe the picture truthfully with varied templates, synonyms ("crimson disc", "polka dots")
and word order. Every shape kind is always named; colours, positions and the background are each either
mentioned for all shapes or left out, so text and image carry overlapping but not identical information.

Generation is deterministic: item ``i`` is drawn from ``numpy.random.default_rng([seed, i])`` only, so the
same seed gives byte-identical images and identical captions and labels, and a smaller ``num_items`` gives
a prefix of a larger one. Bump :data:`SHAPES_VERSION` whenever the output of the generator changes.

Example:
    >>> from cmhash_hf.data.shapes import SHAPES_LABEL_NAMES, build_shapes_dataset
    >>> ds = build_shapes_dataset(num_items=4, seed=0, image_size=32)
    >>> len(ds), ds[0]["image"].size, ds[0]["image"].mode
    (4, (32, 32), 'RGB')
    >>> ds.features["labels"].feature.names == SHAPES_LABEL_NAMES
    True
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import datasets
import numpy as np
from PIL import Image, ImageDraw

from .. import __version__

#: Bump whenever a change to this module changes the generated images, captions or labels.
SHAPES_VERSION: int = 2

_SHAPE_KINDS = [
    "circle", "square", "triangle", "star", "cross", "ring",
    "diamond", "hexagon", "heart", "crescent", "arrow", "semicircle",
]  # fmt: skip
_COLOURS = [
    "red", "green", "blue", "yellow", "purple", "orange",
    "white", "black", "pink", "brown", "cyan", "lime",
]  # fmt: skip
#: Nuisance detail, not labels: the quadrant a shape lies in and the background texture.
_POSITIONS = ["top_left", "top_right", "bottom_left", "bottom_right"]
_TEXTURES = ["plain", "stripes", "dots", "grid"]

#: The 24 label names, in ``ClassLabel`` index order: the 12 shape kinds, then the 12 colours.
SHAPES_LABEL_NAMES: list[str] = _SHAPE_KINDS + _COLOURS

_LABEL_INDEX = {name: i for i, name in enumerate(SHAPES_LABEL_NAMES)}

#: Shape colours; each channel is jittered by at most ``_COLOUR_JITTER`` per shape.
_COLOUR_RGB = {
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
_COLOUR_JITTER = 12
#: Muted background colours (grey, slate, taupe, sage); the texture is drawn in a lighter or darker shade.
_BACKGROUND_RGB = [(128, 128, 128), (112, 128, 144), (150, 135, 115), (115, 135, 115)]
_TEXTURE_SHADE = 36

_SHAPE_WORDS = {
    "circle": ["circle", "disc", "disk"],
    "square": ["square", "box"],
    "triangle": ["triangle"],
    "star": ["star", "five-pointed star"],
    "cross": ["cross", "plus sign"],
    "ring": ["ring", "hoop", "doughnut"],
    "diamond": ["diamond", "rhombus", "lozenge"],
    "hexagon": ["hexagon", "six-sided polygon"],
    "heart": ["heart", "love heart"],
    "crescent": ["crescent", "crescent moon", "sickle"],
    "arrow": ["arrow", "pointer"],
    "semicircle": ["semicircle", "dome"],
}
_COLOUR_WORDS = {
    "red": ["red", "crimson", "scarlet"],
    "green": ["green", "emerald", "jade"],
    "blue": ["blue", "cobalt", "azure"],
    "yellow": ["yellow", "gold", "lemon"],
    "purple": ["purple", "violet", "plum"],
    "orange": ["orange", "tangerine", "amber"],
    "white": ["white", "snow-white", "ivory"],
    "black": ["black", "jet-black", "ebony"],
    "pink": ["pink", "rose", "fuchsia"],
    "brown": ["brown", "chocolate", "chestnut"],
    "cyan": ["cyan", "turquoise", "aqua"],
    "lime": ["lime", "chartreuse"],
}
_VERTICAL_WORDS = {"top": ["top", "upper"], "bottom": ["bottom", "lower"]}
#: Per texture: adjectives ("on a dotted background") and noun phrases ("dots behind them").
_TEXTURE_ADJECTIVES = {
    "plain": ["plain", "blank", "uniform"],
    "stripes": ["striped", "stripy"],
    "dots": ["dotted", "spotted", "polka-dot"],
    "grid": ["grid", "gridded", "lattice"],
}
_TEXTURE_NOUNS = {
    "plain": ["a plain backdrop", "a blank backdrop"],
    "stripes": ["stripes", "a striped pattern"],
    "dots": ["dots", "polka dots", "spots"],
    "grid": ["a grid", "grid lines", "a lattice"],
}
_COUNT_WORDS = {2: ["two", "2"]}

#: Shape radius as a fraction of the quadrant side; below ``_SMALL`` a shape may be called small, above
#: ``_LARGE`` large.
#: (At most 0.4375 so that a shape fits one pixel inside a 16 px quadrant.)
_RADIUS_RANGE = (0.28, 0.43)
_SMALL, _LARGE = 0.33, 0.38


@dataclass(frozen=True)
class _Shape:
    kind: str
    colour: str
    position: str
    radius_fraction: float


def build_shapes_dataset(num_items: int = 3000, seed: int = 0, image_size: int = 64) -> datasets.Dataset:
    """Generate the synthetic ``builtin:shapes`` dataset in the cmhash-hf schema (see ``docs/data.md``).

    Args:
        num_items: number of image–text pairs (at least 1).
        seed: non-negative seed; item ``i`` is drawn from ``numpy.random.default_rng([seed, i])``.
        image_size: side of the square RGB pictures in pixels (at least 32).

    Returns:
        A ``datasets.Dataset`` with columns ``image`` (``datasets.Image()``, PNG-encoded RGB), ``text``
        (a caption) and ``labels`` (the sorted indices into :data:`SHAPES_LABEL_NAMES` of the positive labels,
        as ``List(ClassLabel)``). ``info.description`` records that the data is synthetic, with the
        cmhash-hf version, :data:`SHAPES_VERSION`, the seed and the sizes.

    Raises:
        ValueError: if ``num_items < 1``, ``seed < 0`` or ``image_size < 32``.

    Example:
        >>> ds = build_shapes_dataset(num_items=3, seed=1, image_size=32)
        >>> ds.column_names
        ['image', 'text', 'labels']
        >>> all(2 <= len(labels) <= 4 for labels in ds["labels"])  # kind + colour of one or two shapes
        True
    """
    if num_items < 1:
        raise ValueError(f"num_items must be at least 1, got {num_items}")
    if seed < 0:
        raise ValueError(f"seed must be non-negative, got {seed}")
    if image_size < 32:
        raise ValueError(f"image_size must be at least 32, got {image_size}")

    grid_y, grid_x = np.mgrid[0:image_size, 0:image_size]
    images, texts, labels = [], [], []
    for index in range(num_items):
        rng = np.random.default_rng([seed, index])
        texture = _TEXTURES[rng.integers(len(_TEXTURES))]
        shapes = _draw_shapes(rng)
        picture = _render(rng, shapes, texture, image_size, grid_x, grid_y)
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        images.append({"bytes": buffer.getvalue(), "path": None})
        texts.append(_caption(rng, shapes, texture))
        names = {name for s in shapes for name in (s.kind, s.colour)}
        labels.append(sorted(_LABEL_INDEX[name] for name in names))

    features = datasets.Features(
        {
            "image": datasets.Image(),
            "text": datasets.Value("string"),
            "labels": datasets.List(datasets.ClassLabel(names=SHAPES_LABEL_NAMES)),
        }
    )
    description = (
        f"Synthetic dataset (builtin:shapes): generated pictures of coloured shapes with generated captions, "
        f"not real photographs. Generated by cmhash-hf {__version__}, shapes generator version {SHAPES_VERSION}, "
        f"seed {seed}, {num_items} items of {image_size}x{image_size} px."
    )
    info = datasets.DatasetInfo(description=description, features=features)
    return datasets.Dataset.from_dict({"image": images, "text": texts, "labels": labels}, info=info)


def _draw_shapes(rng: np.random.Generator) -> list[_Shape]:
    """Draw one or two shapes (probability 1/2 each), each in a different quadrant."""
    count = 1 + int(rng.integers(2))
    quadrants = rng.permutation(len(_POSITIONS))[:count]
    return [
        _Shape(
            kind=_SHAPE_KINDS[rng.integers(len(_SHAPE_KINDS))],
            colour=_COLOURS[rng.integers(len(_COLOURS))],
            position=_POSITIONS[quadrant],
            radius_fraction=float(rng.uniform(*_RADIUS_RANGE)),
        )
        for quadrant in quadrants
    ]


def _render(
    rng: np.random.Generator,
    shapes: list[_Shape],
    texture: str,
    size: int,
    grid_x: np.ndarray,
    grid_y: np.ndarray,
) -> Image.Image:
    """Paint the background texture with numpy, then each shape inside its quadrant with ``ImageDraw``."""
    base = np.array(_BACKGROUND_RGB[rng.integers(len(_BACKGROUND_RGB))], dtype=np.int16)
    shade = np.clip(base + rng.choice([-_TEXTURE_SHADE, _TEXTURE_SHADE]), 0, 255)
    period = size // 8
    x = grid_x + rng.integers(period)
    y = grid_y + rng.integers(period)
    if texture == "stripes":
        coordinate = [x, y, x + y][rng.integers(3)]  # vertical, horizontal or diagonal stripes
        mask = (coordinate // (period // 2)) % 2 == 0
    elif texture == "dots":
        half = period // 2
        mask = (x % period - half) ** 2 + (y % period - half) ** 2 <= (size // 32) ** 2
    elif texture == "grid":
        mask = (x % period < size // 32) | (y % period < size // 32)
    else:
        mask = np.zeros((size, size), dtype=bool)
    picture = Image.fromarray(np.where(mask[..., None], shade, base).astype(np.uint8), mode="RGB")

    draw = ImageDraw.Draw(picture)
    quadrant = size / 2
    for shape in shapes:
        radius = shape.radius_fraction * quadrant
        left = 0.0 if shape.position.endswith("left") else quadrant
        top = 0.0 if shape.position.startswith("top") else quadrant
        # Keep the whole shape (bounding box half-side <= radius) one pixel inside its quadrant.
        cx = rng.uniform(left + radius + 1, left + quadrant - radius - 1)
        cy = rng.uniform(top + radius + 1, top + quadrant - radius - 1)
        jitter = rng.integers(-_COLOUR_JITTER, _COLOUR_JITTER + 1, size=3)
        colour = tuple(int(c) for c in np.clip(np.array(_COLOUR_RGB[shape.colour]) + jitter, 0, 255))
        _draw_shape(draw, shape.kind, cx, cy, radius, colour, int(rng.integers(4)))
    return picture


def _polygon(cx: float, cy: float, radii: list[float], start_degrees: float) -> list[tuple[float, float]]:
    """Vertices at evenly spaced angles, the k-th at distance ``radii[k]`` from the centre."""
    angles = np.deg2rad(start_degrees) + 2 * np.pi * np.arange(len(radii)) / len(radii)
    return [(cx + r * np.cos(a), cy + r * np.sin(a)) for r, a in zip(radii, angles)]


def _draw_shape(
    draw: ImageDraw.ImageDraw,
    kind: str,
    cx: float,
    cy: float,
    r: float,
    colour: tuple[int, ...],
    orientation: int = 0,
) -> None:
    """Draw one filled shape whose axis-aligned bounding box has half-side at most ``r``.

    ``orientation`` (0–3, quarter turns clockwise) turns the crescent and the arrow; other kinds ignore it.
    """
    if kind == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    elif kind == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=colour, width=max(2, round(0.4 * r)))
    elif kind == "square":
        h = 0.85 * r
        draw.rectangle((cx - h, cy - h, cx + h, cy + h), fill=colour)
    elif kind == "cross":
        arm = 0.3 * r
        draw.rectangle((cx - r, cy - arm, cx + r, cy + arm), fill=colour)
        draw.rectangle((cx - arm, cy - r, cx + arm, cy + r), fill=colour)
    elif kind == "triangle":
        draw.polygon(_polygon(cx, cy + 0.2 * r, [r] * 3, -90), fill=colour)
    elif kind == "star":
        draw.polygon(_polygon(cx, cy + 0.1 * r, [r, 0.45 * r] * 5, -90), fill=colour)
    elif kind == "diamond":
        draw.polygon(_polygon(cx, cy, [r] * 4, -90), fill=colour)
    elif kind == "hexagon":
        draw.polygon(_polygon(cx, cy, [r] * 6, 0), fill=colour)
    elif kind == "heart":
        draw.polygon(_place(_HEART, cx, cy, r, 0), fill=colour)
    elif kind == "crescent":  # horns point right, down, left or up
        draw.polygon(_place(_CRESCENT, cx, cy, r, 90 * int(orientation)), fill=colour)
    elif kind == "arrow":  # points right, down, left or up
        draw.polygon(_place(_ARROW, cx, cy, r, 90 * int(orientation)), fill=colour)
    else:  # semicircle, flat side down, centred vertically
        draw.pieslice((cx - r, cy - 0.5 * r, cx + r, cy + 1.5 * r), 180, 360, fill=colour)


def _heart_outline(points: int = 48) -> np.ndarray:
    """The classic parametric heart, scaled so its bounding box is centred with half-side at most 1."""
    t = np.linspace(0, 2 * np.pi, points, endpoint=False)
    x = 16 * np.sin(t) ** 3
    y = -(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t))  # image y points down
    y = y - (y.max() + y.min()) / 2
    return np.stack([x, y], axis=1) / max(np.abs(x).max(), np.abs(y).max())


def _crescent_outline(points: int = 24) -> np.ndarray:
    """The unit disc minus a disc of radius 0.8 centred at (0.45, 0), traced as one polygon."""
    offset, inner = 0.45, 0.8
    a = (offset**2 + 1 - inner**2) / (2 * offset)  # x of the two points where the circles cross
    outer_start = np.arctan2(np.sqrt(1 - a**2), a)
    inner_start = np.arctan2(np.sqrt(1 - a**2), a - offset)
    outer = np.linspace(outer_start, 2 * np.pi - outer_start, points)
    inner_arc = np.linspace(2 * np.pi - inner_start, inner_start, points)
    xs = np.concatenate([np.cos(outer), offset + inner * np.cos(inner_arc)])
    ys = np.concatenate([np.sin(outer), inner * np.sin(inner_arc)])
    return np.stack([xs, ys], axis=1)


_HEART = _heart_outline()
_CRESCENT = _crescent_outline()
#: An arrow pointing right: a shaft of half-width 0.3 and a head of half-width 0.85.
_ARROW = np.array([(-1, -0.3), (0.05, -0.3), (0.05, -0.85), (1, 0), (0.05, 0.85), (0.05, 0.3), (-1, 0.3)])


def _place(outline: np.ndarray, cx: float, cy: float, r: float, degrees: int) -> list[tuple[float, float]]:
    """``outline`` (within the square of half-side 1) turned by ``degrees``, scaled by ``r``, centred at (cx, cy)."""
    cos, sin = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return [(float(cx + r * (cos * u - sin * v)), float(cy + r * (sin * u + cos * v))) for u, v in outline]


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[rng.integers(len(options))]


def _with_article(phrase: str) -> str:
    article = "an" if phrase[0] in "aeio" else "a"
    return f"{article} {phrase}"


def _describe_shape(rng: np.random.Generator, shape: _Shape, with_colour: bool, with_position: bool) -> str:
    """One shape as a noun phrase, e.g. "a small crimson disc in the upper-left corner"."""
    noun = _pick(rng, _SHAPE_WORDS[shape.kind])
    size_word = ""
    if rng.random() < 0.5:
        if shape.radius_fraction < _SMALL:
            size_word = _pick(rng, ["small ", "little "])
        elif shape.radius_fraction > _LARGE:
            size_word = _pick(rng, ["large ", "big "])
    if with_colour:
        colour = _pick(rng, _COLOUR_WORDS[shape.colour])
        form = rng.integers(3)
        if form == 0:
            phrase = _with_article(f"{size_word}{colour} {noun}")
        elif form == 1:
            phrase = _with_article(f"{size_word}{noun} in {colour}")
        else:
            phrase = _with_article(f"{size_word}{noun} coloured {colour}")
    else:
        phrase = _with_article(f"{size_word}{noun}")
    if with_position:
        vertical, horizontal = shape.position.split("_")
        v = _pick(rng, _VERTICAL_WORDS[vertical])
        phrase += _pick(
            rng,
            [
                f" in the {v} {horizontal}",
                f" at the {v}-{horizontal}",
                f" in the {v} {horizontal} corner",
                f" ({v} {horizontal})",
            ],
        )
    return phrase


def _join(rng: np.random.Generator, phrases: list[str]) -> str:
    if len(phrases) == 1:
        return phrases[0]
    last_separator = _pick(rng, [" and ", ", and ", ", "]) if len(phrases) > 2 else _pick(rng, [" and ", ", "])
    return ", ".join(phrases[:-1]) + last_separator + phrases[-1]


def _caption(rng: np.random.Generator, shapes: list[_Shape], texture: str) -> str:
    """A truthful caption: every shape kind named; colours, positions and texture each all-or-nothing."""
    with_colour = rng.random() < 0.8
    with_position = rng.random() < 0.5
    with_texture = rng.random() < 0.6
    order = rng.permutation(len(shapes))
    listing = _join(rng, [_describe_shape(rng, shapes[i], with_colour, with_position) for i in order])

    if len(shapes) > 1 and rng.random() < 0.4:
        listing = f"{_pick(rng, _COUNT_WORDS[len(shapes)])} shapes: {listing}"
    else:
        there = "there is " if len(shapes) == 1 else "there are "
        listing = _pick(rng, ["", "", "a picture of ", "an image showing ", there]) + listing

    if with_texture:
        pronoun = "it" if len(shapes) == 1 else "them"
        adjective = _pick(rng, _TEXTURE_ADJECTIVES[texture])
        noun = _pick(rng, _TEXTURE_NOUNS[texture])
        if rng.random() < 0.3:
            caption = f"on {_with_article(adjective)} background, {listing}"
        else:
            caption = listing + _pick(
                rng,
                [
                    f" on {_with_article(adjective)} background",
                    f", {noun} behind {pronoun}",
                    f" with {noun} in the background",
                    f" over {_with_article(adjective)} backdrop",
                ],
            )
    else:
        caption = listing

    if rng.random() < 0.5:
        caption = caption[0].upper() + caption[1:]
    if rng.random() < 0.3:
        caption += "."
    return caption
