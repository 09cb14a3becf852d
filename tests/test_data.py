"""Dataset loading from every source kind, label handling, split protocols and the collator."""

from __future__ import annotations

import json

import datasets
import numpy as np
import pytest
from PIL import Image

from cmhash_hf import CrossModalHashProcessor
from cmhash_hf.data import CrossModalCollator, SplitIndices, labels_to_multi_hot, load_cross_modal_dataset, make_split
from cmhash_hf.data.splits import carve_validation, split_sizes

NAMES = ["cat", "dog", "sky"]


def _small_dataset(n: int = 12) -> datasets.Dataset:
    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255)]
    return datasets.Dataset.from_dict(
        {
            "image": [Image.new("RGB", (16, 16), colours[i % 3]) for i in range(n)],
            "text": [f"picture number {i} of a {NAMES[i % 3]}" for i in range(n)],
            "labels": [[i % 3] if i % 4 else [i % 3, 2] for i in range(n)],
        },
        features=datasets.Features(
            {"image": datasets.Image(), "text": datasets.Value("string"), "labels": datasets.List(datasets.ClassLabel(names=NAMES))}
        ),
    )


def test_builtin_shapes_loads_in_the_schema():
    data = load_cross_modal_dataset("builtin:shapes", num_items=30)
    assert (data.name, len(data), data.num_labels, data.has_images) == ("shapes", 30, 24, True)
    labels = data.multi_hot()
    assert labels.shape == (30, 24) and set(np.unique(labels)) <= {0.0, 1.0} and (labels.sum(1) >= 1).all()


def test_save_to_disk_folder_round_trip_and_split_saved_beside_it(tmp_path):
    _small_dataset().save_to_disk(tmp_path / "ds")
    data = load_cross_modal_dataset(str(tmp_path / "ds"))
    assert data.label_names == NAMES and len(data) == 12
    assert data.multi_hot()[:5].tolist() == [[1, 0, 1], [0, 1, 0], [0, 0, 1], [1, 0, 0], [0, 1, 1]]
    split = data.get_split("classic", seed=3)
    saved = tmp_path / "ds" / "splits" / "classic-seed3.json"
    assert saved.is_file()
    again = load_cross_modal_dataset(str(tmp_path / "ds")).get_split("classic", seed=3)
    assert np.array_equal(split.query, again.query) and np.array_equal(split.train, again.train)


def test_parquet_folder_is_read_through_the_hub_code_path(tmp_path):
    folder = tmp_path / "pq"
    folder.mkdir()
    _small_dataset().to_parquet(str(folder / "train.parquet"))
    data = load_cross_modal_dataset(str(folder))
    assert data.label_names == NAMES and len(data) == 12
    assert data.dataset[0]["image"].size == (16, 16)


def test_imagefolder_with_metadata_and_label_names_file(tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    rows = []
    for i in range(6):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")
        rows.append({"file_name": f"{i}.png", "text": f"item {i}", "labels": [0, 2] if i % 2 else [1]})
    (folder / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    (folder / "label_names.json").write_text(json.dumps(NAMES))
    data = load_cross_modal_dataset(str(folder))
    assert data.label_names == NAMES and len(data) == 6
    assert sorted(map(tuple, data.multi_hot().tolist())) == [(0, 1, 0)] * 3 + [(1, 0, 1)] * 3


@pytest.mark.parametrize(
    "source, error, message",
    [
        ("builtin:nothing", ValueError, "Unknown built-in dataset 'builtin:nothing'; available: builtin:shapes"),
        ("./no/such/folder", FileNotFoundError, "No dataset folder at ./no/such/folder"),
    ],
)
def test_unknown_sources_are_clear_errors(source, error, message):
    with pytest.raises(error, match=message):
        load_cross_modal_dataset(source)


def test_a_folder_with_no_dataset_is_a_clear_error(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="has neither an .image. nor an .image_features. column"):
        load_cross_modal_dataset(str(tmp_path))


def test_labels_out_of_range_or_wrong_width_are_clear_errors():
    with pytest.raises(ValueError, match=r"Row 1 has a label index outside 0..2: \[3\]"):
        labels_to_multi_hot([[0], [3]], 3, as_indices=True)
    with pytest.raises(ValueError, match="Row 0 has a label vector of width 2, expected 3"):
        labels_to_multi_hot([[1, 0]], 3, as_indices=False)


@pytest.mark.parametrize(
    "name, n, protocol, expected",
    [
        ("mirflickr25k", 20015, "classic", (2000, 10000, 18015)),
        ("nuswide", 195834, "classic", (2100, 10500, 193734)),
        ("iaprtc12", 20000, "classic", (2000, 10000, 18000)),
        ("mscoco", 122218, "classic", (5000, 10000, 117218)),
        ("wiki", 2866, "classic", (693, 2173, 2173)),
        ("mirflickr25k", 20015, "dchmt", (5000, 10000, 15015)),
        ("unknown", 100, "classic", (10, 50, 90)),
    ],
)
def test_protocol_sizes(name, n, protocol, expected):
    assert split_sizes(n, name, protocol) == expected


def test_split_is_seeded_disjoint_and_round_trips(tmp_path):
    split = make_split(3000, "shapes", "classic", seed=7)
    assert not set(split.query) & set(split.database)
    assert set(split.train) <= set(split.database)
    assert np.array_equal(split.query, make_split(3000, "shapes", "classic", seed=7).query)
    assert not np.array_equal(split.query, make_split(3000, "shapes", "classic", seed=8).query)
    loaded = SplitIndices.load(split.save(tmp_path / "s.json"))
    assert loaded.to_dict() == split.to_dict()
    with pytest.raises(ValueError, match="needs 2000 queries"):
        make_split(100, "mirflickr25k")


def test_validation_split_is_carved_from_train_only_and_reloads_identically(tmp_path):
    base = make_split(500, protocol="classic", seed=2)  # default fractions: 50 queries, 250 training items
    validation = carve_validation(base)
    # 20 % of the 250 training items are validation queries; the other 200 are train = database
    assert (len(validation.query), len(validation.train), len(validation.database)) == (50, 200, 200)
    assert set(validation.query) | set(validation.train) == set(base.train)
    assert not set(validation.query) & set(validation.train) and not set(validation.query) & set(base.query)
    assert np.array_equal(validation.train, validation.database)
    assert (validation.protocol, validation.seed) == ("classic-validation", 2)
    assert validation.to_dict() == carve_validation(make_split(500, protocol="classic", seed=2)).to_dict()
    assert not np.array_equal(validation.query, carve_validation(make_split(500, protocol="classic", seed=3)).query)
    # through a dataset: the saved classic split of the folder is the base
    _small_dataset().save_to_disk(tmp_path / "ds")
    data = load_cross_modal_dataset(str(tmp_path / "ds"))
    carved = data.get_split("classic-validation", seed=1)
    assert carved.to_dict() == carve_validation(data.get_split("classic", seed=1)).to_dict()
    with pytest.raises(ValueError, match="too small to carve a validation split"):
        carve_validation(make_split(10, protocol="classic", seed=0), fraction=0.01)
    with pytest.raises(ValueError, match="Unknown split protocol 'nope'"):
        data.get_split("nope-validation")


def test_collator_batches_through_the_processor():
    data = load_cross_modal_dataset("builtin:shapes", num_items=10)
    processor = CrossModalHashProcessor.from_texts(data.texts(), text_mode="tokenizer", vocab_size=100)
    collate = CrossModalCollator(processor, data.num_labels)
    rows = [dict(data.dataset[i], sample_index=i) for i in (3, 7)]
    batch = collate(rows)
    assert batch["pixel_values"].shape == (2, 3, 32, 32)
    assert batch["input_ids"].shape[0] == 2 and batch["sample_index"].tolist() == [3, 7]
    assert batch["labels"].tolist() == data.multi_hot(np.array([3, 7])).tolist()
