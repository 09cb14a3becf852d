"""Dataset builders on the real files in ../shared/data (or $CMHASH_SHARED_DATA), each built once per module."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import h5py
import numpy as np
import pytest

from cmhash_hf.data.builders import build_dataset, build_nuswide10k
from cmhash_hf.data.splits import SplitIndices, make_split, split_file_name
from paths import SHARED_DATA




def _build(tmp_path_factory: pytest.TempPathFactory, name: str, folder: str) -> tuple[object, Path]:
    output = tmp_path_factory.mktemp("built") / name
    return build_dataset(name, SHARED_DATA / folder, output), output


@pytest.fixture(scope="module")
def mirflickr(tmp_path_factory):
    return _build(tmp_path_factory, "mirflickr25k", "mirflickr25k")


@pytest.fixture(scope="module")
def nuswide10k(tmp_path_factory):
    return _build(tmp_path_factory, "nuswide10k", "nuswide10k")


@pytest.fixture(scope="module")
def wiki(tmp_path_factory):
    return _build(tmp_path_factory, "wiki", "wiki")


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    return _build(tmp_path_factory, "coco-mini", "coco-mini")


def _label_counts(dataset) -> np.ndarray:
    """Positives per label, counted from the dataset's ``labels`` index lists."""
    num_labels = dataset.features["labels"].feature.num_classes
    counts = np.zeros(num_labels, dtype=np.int64)
    for indices in dataset["labels"]:
        counts[indices] += 1
    return counts


def _report(output: Path) -> dict:
    return json.loads((output / "build_report.json").read_text())


def _raw_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_mirflickr_counts_and_widths(mirflickr):
    dataset, output = mirflickr
    raw = np.loadtxt(SHARED_DATA / "mirflickr25k" / "mir_label.txt")
    assert len(dataset) == 20015 == raw.shape[0]
    assert dataset.features["labels"].feature.num_classes == 24
    assert dataset.features["text_features"].length == 1386
    assert set(dataset.column_names) == {"text", "text_features", "labels"}
    np.testing.assert_array_equal(_label_counts(dataset), raw.sum(axis=0).astype(np.int64))
    assert _report(output)["label_counts"] == raw.sum(axis=0).astype(int).tolist()
    assert json.loads((output / "label_names.json").read_text())[18] == "sky"


def test_mirflickr_vocabulary_and_hand_checked_rows(mirflickr):
    dataset, output = mirflickr
    vocabulary = json.loads((output / "vocabulary.json").read_text())
    assert len(vocabulary) == 1386 and vocabulary[:3] == ["explore", "sky", "nikon"]
    features = np.asarray(dataset.select(range(3)).with_format("numpy")["text_features"])
    # Row 0: "governorsisland cigarette tattoos smoke red lipstick dress sunglasses shades belt".
    expected = {
        0: {"red": 8, "smoke": 258, "dress": 601, "sunglasses": 763, "cigarette": 1213, "tattoos": 1254},
        1: {"explore": 0},
        2: {"cake": 235, "chocolate": 248},
    }
    for row, words in expected.items():
        assert np.flatnonzero(features[row]).tolist() == sorted(words.values())
        assert all(vocabulary[index] == word for word, index in words.items())
    assert dataset[2]["text"] == "chocolate cake chocolateganachebuttercream shamsd"
    assert dataset[0]["labels"] == [6, 13, 15, 18, 19]


def test_mirflickr_has_no_empty_bag_of_words(mirflickr):
    dataset, output = mirflickr
    report = _report(output)
    assert report["num_empty_text_features"] == 0 and report["empty_text_features"] == []
    assert np.asarray(dataset.with_format("numpy")["text_features"]).any(axis=1).all()


def test_mirflickr_split_files_reload_identically(mirflickr):
    _dataset, output = mirflickr
    for protocol in ("classic", "dchmt"):
        saved = SplitIndices.load(output / split_file_name(protocol, 0))
        fresh = make_split(20015, dataset_name="mirflickr25k", protocol=protocol, seed=0)
        for part in ("query", "train", "database"):
            np.testing.assert_array_equal(getattr(saved, part), getattr(fresh, part))
        assert (saved.protocol, saved.seed, saved.num_items) == (protocol, 0, 20015)
    assert (len(saved.query), len(saved.train)) == (5000, 10000)


def test_nuswide10k_counts_and_widths(nuswide10k):
    dataset, output = nuswide10k
    raw = np.loadtxt(SHARED_DATA / "nuswide10k" / "label_10500.txt")
    assert len(dataset) == 10500 == raw.shape[0]
    assert dataset.features["labels"].feature.num_classes == 21
    assert dataset.features["text_features"].length == 1000
    np.testing.assert_array_equal(_label_counts(dataset), raw.sum(axis=0).astype(np.int64))
    assert len(json.loads((output / "vocabulary.json").read_text())) == 1000


def test_nuswide10k_hand_checked_rows_and_empty_bags(nuswide10k):
    dataset, output = nuswide10k
    vocabulary = json.loads((output / "vocabulary.json").read_text())
    features = np.asarray(dataset.with_format("numpy")["text_features"])
    # Row 0: "portrait man celebrity sunglasses december fuji bokeh flash actor jello ... s5pro".
    row0 = {"portrait": 19, "man": 63, "flash": 471, "sunglasses": 482, "actor": 628, "december": 866}
    assert np.flatnonzero(features[0]).tolist() == sorted(row0.values())
    assert all(vocabulary[index] == word for word, index in row0.items())
    assert dataset[169]["text"] == "pickuptruck" and not features[169].any()  # no tag of the 1k list

    vocab_set = set(_raw_lines(SHARED_DATA / "nuswide10k" / "TagList1k.txt"))
    raw_tags = _raw_lines(SHARED_DATA / "nuswide10k" / "txt_10500.txt")
    expected_empty = [i for i, line in enumerate(raw_tags) if not vocab_set & set(line.split())]
    report = _report(output)
    assert report["num_empty_text_features"] == 388 == len(expected_empty)
    assert report["empty_text_features"] == expected_empty == np.flatnonzero(~features.any(axis=1)).tolist()


def test_nuswide10k_splits_fit_classic_only(nuswide10k):
    _dataset, output = nuswide10k
    saved = SplitIndices.load(output / split_file_name("classic", 0))
    assert (len(saved.query), len(saved.train), len(saved.database)) == (2100, 8400, 8400)
    assert not (output / split_file_name("dchmt", 0)).exists()


def test_missing_images_warn_and_flag(caplog):
    with caplog.at_level(logging.WARNING, logger="cmhash_hf.data.builders"):
        built = build_nuswide10k(SHARED_DATA / "nuswide10k")
    assert str(SHARED_DATA / "nuswide10k" / "images") in caplog.text
    assert "image" not in built.dataset.column_names and built.report["has_images"] is False
    assert "NO IMAGES" in built.dataset.info.description


def test_wiki_features_labels_and_original_split(wiki):
    dataset, output = wiki
    with h5py.File(SHARED_DATA / "wiki" / "wiki_data.mat", "r") as handle:
        raw = {name: handle[name][()].T for name in handle}
    assert len(dataset) == 2173 + 693
    assert (dataset.features["image_features"].length, dataset.features["text_features"].length) == (128, 10)
    assert dataset.features["labels"].feature.num_classes == 10
    arrays = dataset.with_format("numpy")
    all_images = np.concatenate([raw["I_tr"], raw["I_te"]])
    np.testing.assert_allclose(np.asarray(arrays["image_features"]), all_images, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(arrays["text_features"][2173:]), raw["T_te"], rtol=1e-6)
    np.testing.assert_array_equal(_label_counts(dataset), (raw["L_tr"].sum(0) + raw["L_te"].sum(0)).astype(np.int64))
    np.testing.assert_array_equal(_label_counts(dataset.select(range(2173))), raw["L_tr"].sum(0).astype(np.int64))
    assert all(len(labels) == 1 for labels in dataset["labels"])

    split = SplitIndices.load(output / split_file_name("classic", 0))
    np.testing.assert_array_equal(split.query, np.arange(2173, 2866))
    np.testing.assert_array_equal(split.train, np.arange(2173))
    np.testing.assert_array_equal(split.database, np.arange(2173))
    assert "original" in split.extra["origin"]
    assert not (output / split_file_name("dchmt", 0)).exists()


def test_coco_mini_counts_captions_and_labels(coco):
    dataset, output = coco
    folder = SHARED_DATA / "coco-mini"
    captions = {}
    label_sets: dict[int, set[int]] = {}
    category_ids: list[int] = []
    for split in ("train2017", "val2017"):
        for note in json.loads((folder / f"captions_{split}.json").read_text())["annotations"]:
            captions.setdefault(note["image_id"], []).append((note["id"], note["caption"]))
        instances = json.loads((folder / f"instances_{split}.json").read_text())
        category_ids = sorted(category["id"] for category in instances["categories"])
        for note in instances["annotations"]:
            label_sets.setdefault(note["image_id"], set()).add(note["category_id"])
    assert len(captions) == 159 and all(len(c) == 5 for c in captions.values())

    assert len(dataset) == 159 and dataset.features["labels"].feature.num_classes == 80
    report = _report(output)
    assert report["captions_per_image"] == [5] * 159
    image_ids = report["image_ids"]
    assert image_ids == sorted(captions)
    expected_counts = np.zeros(80, dtype=np.int64)
    for image_id in image_ids:
        expected_counts[[category_ids.index(c) for c in label_sets[image_id]]] += 1
    np.testing.assert_array_equal(_label_counts(dataset), expected_counts)

    row = 10
    assert dataset[row]["text"] == " ".join(min(captions[image_ids[row]])[1].split())
    image = dataset[row]["image"]
    assert image.size[0] > 0 and image.mode in {"RGB", "L"}
    classic = SplitIndices.load(output / split_file_name("classic", 0))
    assert (len(classic.query), len(classic.train), len(classic.database)) == (30, 100, 129)


def test_missing_source_errors_name_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        build_dataset("wiki", tmp_path / "no_such_folder", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="wiki_data.mat"):
        build_dataset("wiki", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="common_tags.txt"):
        build_dataset("mirflickr25k", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(FileNotFoundError, match="captions_<split>.json"):
        build_dataset("mscoco", tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out").exists()
