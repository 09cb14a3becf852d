"""Conformance suite of tower kinds: every registered kind, through each of its processor sides, builds, round-trips
its spec and processor side, names its inputs, and refuses bad specs and wrong inputs with clear errors.

Rows come from ``tests/tower_cases.py``; a kind registered without rows fails `test_every_kind_and_side_has_a_row`.
The last tests add a toy kind (one class + one registration) and use it end to end.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf.data import CrossModalCollator
from cmhash_hf.encoders import (
    FeatureVectorSide,
    InputSide,
    TowerKind,
    get_tower_kind,
    list_tower_kinds,
    register_tower_kind,
    validate_encoder_spec,
)
from cmhash_hf.encoders import kinds as kinds_module
from cmhash_hf.pictures import load_image
from tower_cases import TOWER_CASES, WIDTH, TowerCase

CASES = {case.id: case for case in TOWER_CASES}
ARGUMENTS = {"image": ("images", "image_features"), "text": ("text", "text_features")}


def _other(modality: str) -> str:
    return "text" if modality == "image" else "image"


def _processor(case: TowerCase) -> CrossModalHashProcessor:
    """The case's side, with a plain feature side for the other modality."""
    sides = {case.modality: case.side(), _other(case.modality): FeatureVectorSide(WIDTH, None, _other(case.modality))}
    return CrossModalHashProcessor(image_side=sides["image"], text_side=sides["text"])


def _model(case: TowerCase, seed: int = 0):
    other = {"kind": "features", "input_dim": WIDTH, "hidden_dims": [8]}
    specs = {f"{case.modality}_encoder": case.spec(), f"{_other(case.modality)}_encoder": other}
    torch.manual_seed(seed)
    return CrossModalHashModel.for_method("dcmh", hash_bits=8, num_classes=3, **specs)


def _encode(model, case: TowerCase, inputs: dict[str, Any]) -> torch.Tensor:
    return (model.encode_image if case.modality == "image" else model.encode_text)(**inputs)


def test_every_kind_and_side_has_a_row():
    assert {case.kind for case in TOWER_CASES} == set(list_tower_kinds())
    for name in list_tower_kinds():
        covered = {type(case.side()) for case in TOWER_CASES if case.kind == name}
        assert covered == set(get_tower_kind(name).sides), name


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_valid_spec_builds_a_tower_that_takes_the_sides_outputs(case_id):
    case = CASES[case_id]
    kind = get_tower_kind(case.kind)
    spec = validate_encoder_spec(case.spec(), case.modality)
    assert validate_encoder_spec(spec, case.modality) == spec  # validation fills defaults once
    tower = kind.build(spec)
    side = case.side()
    assert side.kind == kind.name
    outputs, length = side(case.raw())
    assert length == 2
    tensors = {name: torch.as_tensor(value) for name, value in outputs.items()}
    features = tower(**kind.tower_inputs(spec, case.modality, tensors, torch.device("cpu"), torch.float32))
    assert features.shape == (2, tower.output_dim)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_the_sides_outputs_are_the_kinds_input_names(case_id):
    case = CASES[case_id]
    names = get_tower_kind(case.kind).input_names(case.modality)
    outputs, _ = case.side()(case.raw())
    assert names[0] in outputs and set(outputs) <= set(names)
    side = case.side()
    assert side.argument in ARGUMENTS[case.modality]
    assert side.column == ("image" if side.argument == "images" else side.argument)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_spec_and_codes_survive_save_and_load(case_id, tmp_path):
    case = CASES[case_id]
    model, processor = _model(case), _processor(case)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    loaded = CrossModalHashModel.from_pretrained(tmp_path)
    spec_name = f"{case.modality}_encoder"
    assert getattr(loaded.config, spec_name) == getattr(model.config, spec_name)
    argument = case.side().argument
    inputs = processor(**{argument: case.raw()}, return_tensors="pt")
    again = CrossModalHashProcessor.from_pretrained(tmp_path)(**{argument: case.raw()}, return_tensors="pt")
    assert torch.equal(_encode(loaded, case, dict(again)), _encode(model, case, dict(inputs)))


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_the_processor_side_survives_save_and_load(case_id, tmp_path):
    case = CASES[case_id]
    processor = _processor(case)
    written = processor.save_pretrained(tmp_path)
    assert all((tmp_path / name).is_file() for name in written)
    loaded = CrossModalHashProcessor.from_pretrained(tmp_path)
    before, after = processor.side(case.modality), loaded.side(case.modality)
    assert type(after) is type(before) and after.mode == before.mode
    assert after.identity() == before.identity() and after.to_dict() == before.to_dict()
    first, _ = before(case.raw())
    second, _ = after(case.raw())
    assert sorted(first) == sorted(second)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_bad_spec_is_a_clear_error(case_id):
    case = CASES[case_id]
    with pytest.raises(ValueError, match=case.bad_message):
        validate_encoder_spec(case.bad_spec, case.modality)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_batch_without_the_towers_input_names_what_to_pass(case_id):
    case = CASES[case_id]
    model = _model(case)
    wrong = {"image": {"image_tower_outputs": None}, "text": {"text_tower_outputs": None}}[case.modality]
    required = get_tower_kind(case.kind).input_names(case.modality)[0]
    with pytest.raises(ValueError, match=f"This model's {case.modality} tower .*pass {required}"):
        (model.get_image_features if case.modality == "image" else model.get_text_features)(**wrong)


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_a_processor_call_with_the_other_argument_names_the_right_one(case_id):
    case = CASES[case_id]
    side = case.side()
    wrong = next(name for name in ARGUMENTS[case.modality] if name != side.argument)
    with pytest.raises(ValueError, match=rf"This processor's {case.modality} side takes .*\({side.argument}=\.\.\.\), "
                                         f"not "):
        _processor(case)(**{wrong: case.raw()})


@pytest.mark.parametrize("case_id", sorted(CASES))
def test_the_description_says_where_the_weights_come_from(case_id):
    case = CASES[case_id]
    kind = get_tower_kind(case.kind)
    spec = validate_encoder_spec(case.spec(), case.modality)
    assert kind.pretrained_name(spec) is None
    assert kind.describe(spec, case.modality).endswith("trained from scratch")


def test_unknown_kinds_and_sides_are_clear_errors():
    with pytest.raises(ValueError, match=r"The image encoder kind must be one of \('bow', 'features', 'hf'\), got 'cnn'"):
        validate_encoder_spec({"kind": "cnn"}, "image")
    with pytest.raises(ValueError, match="No registered tower kind has a processor side 'timm-pixels'; known sides: "
                                         "bow, features, pixels, tokenizer"):
        kinds_module.side_class("timm-pixels")
    with pytest.raises(ValueError, match="A 'pixels' side serves image only, not text"):
        type(CASES["hf-image-pixels"].side())(None, "text")


# ---------------------------------------------------------------------- a new kind: one class, one registration
class MeanColourSide(InputSide):
    """Pictures → their mean colour per cell of a ``grid`` × ``grid`` grid, as ``pixel_values``."""

    kind = "mean-colour"
    mode = "mean-colour-grid"
    arguments = {"image": "images"}
    takes = "pictures"

    def __init__(self, grid: int = 2, modality: str = "image") -> None:
        super().__init__(modality)
        self.grid = grid

    def __call__(self, values: Any) -> tuple[dict[str, np.ndarray], int]:
        pictures = [load_image(v, i).resize((self.grid, self.grid), Image.BOX) for i, v in enumerate(values)]
        pixels = np.stack([np.asarray(p, dtype=np.float32).transpose(2, 0, 1) / 255.0 for p in pictures])
        return {"pixel_values": pixels}, len(pictures)

    def to_dict(self) -> dict[str, Any]:
        return {f"{self.modality}_grid": self.grid}

    @classmethod
    def load(cls, modality: str, source: str, settings: dict[str, Any], hub_kwargs: dict[str, Any]) -> "MeanColourSide":
        return cls(settings[f"{modality}_grid"], modality)


class MeanColourTower(nn.Module):
    def __init__(self, spec: dict[str, Any]) -> None:
        super().__init__()
        self.linear = nn.Linear(3 * spec["grid"] ** 2, spec["width"])
        self.output_dim = spec["width"]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.linear(pixel_values.flatten(1)))


class MeanColourKind(TowerKind):
    name = "mean-colour"
    modalities = ("image",)
    sides = (MeanColourSide,)

    def validate(self, spec: dict[str, Any], modality: str) -> dict[str, Any]:
        spec = {"grid": 2, "width": 8, **spec}
        if not isinstance(spec["grid"], int) or spec["grid"] < 1:
            raise ValueError(f"A 'mean-colour' {modality} spec needs a positive integer 'grid', got {spec['grid']!r}.")
        return spec

    def build(self, spec: dict[str, Any]) -> nn.Module:
        return MeanColourTower(spec)

    def input_names(self, modality: str) -> tuple[str, ...]:
        return ("pixel_values",)

    def input_size(self, spec: dict[str, Any], modality: str) -> int:
        return 3

    def tower_inputs(self, spec, modality, inputs, device, dtype):
        if inputs.get("pixel_values") is None:
            raise self.missing_input(spec, modality)
        return {"pixel_values": inputs["pixel_values"].to(device=device, dtype=dtype)}

    def describe(self, spec: dict[str, Any], modality: str) -> str:
        return f"mean colours of a {spec['grid']}×{spec['grid']} grid into one linear layer, trained from scratch"


@pytest.fixture
def mean_colour_kind():
    kind = register_tower_kind(MeanColourKind())
    yield kind
    del kinds_module._KINDS[kind.name]


def test_a_new_kind_is_one_class_and_one_registration(mean_colour_kind, tmp_path):
    assert "mean-colour" in list_tower_kinds()
    assert register_tower_kind(MeanColourKind()) is mean_colour_kind  # registering again is a no-op
    with pytest.raises(ValueError, match="A 'mean-colour' text spec needs|serves the image side only"):
        validate_encoder_spec({"kind": "mean-colour"}, "text")
    model = CrossModalHashModel.for_method("dcmh", hash_bits=8, num_classes=3,
                                           image_encoder={"kind": "mean-colour", "grid": 3},
                                           text_encoder={"kind": "bow", "input_dim": 3, "hidden_dims": [8]})
    processor = CrossModalHashProcessor(image_side=MeanColourSide(3), bow_vocabulary=["red", "blue", "circle"])
    pictures = [Image.new("RGB", (9, 9), (255, 0, 0)), Image.new("RGB", (12, 6), (0, 0, 255))]
    batch = CrossModalCollator(processor, 0)([{"image": p, "text": "a red circle"} for p in pictures])
    assert sorted(batch) == ["pixel_values", "text_features"]
    assert batch["pixel_values"][1, :, 0, 0].tolist() == [0.0, 0.0, 1.0]
    codes = model.encode(images=pictures, processor=processor)
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    reloaded = CrossModalHashModel.from_pretrained(tmp_path)
    assert np.array_equal(reloaded.encode(images=pictures), codes)  # the processor saved with it is used
    assert CrossModalHashProcessor.from_pretrained(tmp_path).side("image").grid == 3
    card = (Path(tmp_path) / "README.md").read_text(encoding="utf-8")
    assert "mean colours of a 3×3 grid into one linear layer" in card
    with pytest.raises(ValueError, match="This model's image tower is mean colours .*: pass pixel_values"):
        model.get_image_features(image_features=torch.zeros(1, 3))


def test_a_kind_cannot_take_a_name_or_side_already_registered(mean_colour_kind):
    class Impostor(MeanColourKind):
        pass

    with pytest.raises(ValueError, match="A tower kind named 'mean-colour' is already registered"):
        register_tower_kind(Impostor())

    class SameSide(MeanColourKind):
        name = "other-colour"

    with pytest.raises(ValueError, match="The processor side 'mean-colour-grid' of 'other-colour' is already a side "
                                         "of 'mean-colour'"):
        register_tower_kind(SameSide())
    with pytest.raises(TypeError, match="register_tower_kind takes a TowerKind instance, got str"):
        register_tower_kind("mean-colour")
