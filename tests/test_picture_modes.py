"""`to_rgb` on a picture of every mode PIL opens, against expected pixels worked out by hand per mode.

Each picture is a few pixels with chosen values; the expected RGB array is written out from the rules of
`cmhash_hf.pictures.to_rgb` (16-bit levels / 257, fractions × 255, alpha over white, PIL's CMYK and 1-bit rules),
not computed by the code under test. Every case also goes through a file round trip where the format keeps the mode.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cmhash_hf.pictures import load_image, to_rgb


def gray(levels: list[int]) -> np.ndarray:
    """One row of gray RGB pixels."""
    return np.array([[[v, v, v] for v in levels]], dtype=np.uint8)


def palette_with_transparency() -> Image.Image:
    image = Image.new("P", (3, 1))
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255] + [0] * (256 * 3 - 9))
    image.putdata([0, 1, 2])
    image.info["transparency"] = 1  # the green entry is fully transparent: white shows through
    return image


CASES = {
    # 16-bit gray: 0 -> 0, 32896 = 128 * 257 -> 128, 65535 -> 255 (convert("RGB") would clip 32896 to 255)
    "I;16": (lambda: Image.fromarray(np.array([[0, 32896, 65535]], dtype=np.uint16)), gray([0, 128, 255])),
    # 32-bit integers in [0, 65535]: scaled as 16-bit; 514 = 2 * 257 -> 2
    "I": (lambda: Image.fromarray(np.array([[0, 514, 65535]], dtype=np.int32)), gray([0, 2, 255])),
    # 32-bit integers in [0, 255]: taken as 8-bit levels
    "I-8bit": (lambda: Image.fromarray(np.array([[0, 7, 255]], dtype=np.int32)), gray([0, 7, 255])),
    # floats in [0, 1]: fractions; 0.5 * 255 = 127.5 rounds to 128 (half to even), 0.2 * 255 = 51
    "F": (lambda: Image.fromarray(np.array([[0.0, 0.5, 0.2, 1.0]], dtype=np.float32)), gray([0, 128, 51, 255])),
    # floats outside [0, 255]: stretched min..max; -10 -> 0, 300 -> 255, 145 = midpoint -> 127.5 -> 128
    "F-stretched": (lambda: Image.fromarray(np.array([[-10.0, 145.0, 300.0]], dtype=np.float32)), gray([0, 128, 255])),
    # palette with a transparent entry: red, white (transparent green over white), blue
    "P": (palette_with_transparency, np.array([[[255, 0, 0], [255, 255, 255], [0, 0, 255]]], dtype=np.uint8)),
    # CMYK through PIL's rule R = 255 - C (likewise G, B) darkened by K: no ink -> white, full cyan -> (0, 255, 255),
    # full black -> black
    "CMYK": (
        lambda: Image.frombytes("CMYK", (3, 1), bytes([0, 0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 255])),
        np.array([[[255, 255, 255], [0, 255, 255], [0, 0, 0]]], dtype=np.uint8),
    ),
    # LA: gray 0 at alpha 0 (white shows), gray 200 opaque, gray 0 at alpha 255
    "LA": (
        lambda: Image.frombytes("LA", (3, 1), bytes([0, 0, 200, 255, 0, 255])),
        gray([255, 200, 0]),
    ),
    # RGBA: opaque red, transparent blue (white), and (0, 0, 0) at alpha 51 over white: 255 * (1 - 51/255) = 204
    "RGBA": (
        lambda: Image.frombytes("RGBA", (3, 1), bytes([255, 0, 0, 255, 0, 0, 255, 0, 0, 0, 0, 51])),
        np.array([[[255, 0, 0], [255, 255, 255], [204, 204, 204]]], dtype=np.uint8),
    ),
    "L": (lambda: Image.fromarray(np.array([[0, 17, 255]], dtype=np.uint8)), gray([0, 17, 255])),
    # 1-bit: black and white
    "1": (lambda: Image.fromarray(np.array([[False, True, False]])), gray([0, 255, 0])),
    "RGB": (
        lambda: Image.fromarray(np.array([[[1, 2, 3], [250, 128, 0]]], dtype=np.uint8)),
        np.array([[[1, 2, 3], [250, 128, 0]]], dtype=np.uint8),
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_mode_becomes_the_expected_rgb(case):
    make, expected = CASES[case]
    image = make()
    assert image.mode == case.split("-")[0]
    converted = to_rgb(image)
    assert converted.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(converted), expected)


@pytest.mark.parametrize("case", ["I;16", "P", "LA", "RGBA", "L", "1", "RGB"])
def test_png_files_of_each_mode_load_to_the_same_pixels(case, tmp_path):
    """The same pictures written as PNG and read back through `load_image` (the path every dataset uses)."""
    make, expected = CASES[case]
    path = tmp_path / f"{case.replace(';', '_')}.png"
    make().save(path)
    np.testing.assert_array_equal(np.asarray(load_image(path, 0)), expected)


def test_sixteen_bit_midtones_are_not_clipped_to_white():
    """The failure this guards against: PIL's own convert("RGB") turns every 16-bit level above 255 white."""
    image = Image.fromarray(np.full((2, 2), 25700, dtype=np.uint16))  # 100 * 257
    assert np.asarray(image.convert("RGB")).max() == 255  # what the library must not do
    assert np.asarray(to_rgb(image)).tolist() == [[[100] * 3] * 2] * 2
