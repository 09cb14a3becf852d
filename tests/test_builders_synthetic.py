"""Dataset builders on tiny synthetic folders (layouts with no real files here), and build_dataset's guarantees."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import datasets
import h5py
import numpy as np
import pytest
from PIL import Image

from cmhash_hf.data.builders import (
    BUILDERS,
    build_dataset,
    build_iaprtc12,
    build_mirflickr25k,
    build_mscoco,
    build_nuswide,
    list_builders,
)
from cmhash_hf.data.builders import build as build_module


def _write(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding=encoding)


def _picture(path: Path, colour: tuple[int, int, int], size: tuple[int, int] = (8, 6)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)


@pytest.fixture
def mirflickr_source(tmp_path: Path) -> Path:
    source = tmp_path / "mirflickr"
    _write(source / "img_database.txt", "images/im1.jpg\nimages/im5.jpg\nimages/im9.jpg")
    rows = [[1] + [0] * 23, [0] * 23 + [1], [1, 1] + [0] * 22]
    _write(source / "mir_label.txt", "\n".join(" ".join(f"{v:.1f}" for v in row) + " " for row in rows))
    _write(source / "txt_database.txt", "sky sea sky \nnikon\nSea tree")
    _write(source / "common_tags.txt", "sky 10\nsea 8\ntree 3")
    for number, colour in [(1, (255, 0, 0)), (5, (0, 255, 0)), (9, (0, 0, 255))]:
        _picture(source / "images" / f"im{number}.jpg", colour)
    return source


def test_registry_names():
    assert list_builders() == sorted(BUILDERS)
    assert {"mirflickr25k", "nuswide10k", "nuswide", "iaprtc12", "mscoco", "coco-mini", "wiki"} == set(BUILDERS)
    with pytest.raises(ValueError, match="known"):
        build_dataset("flickr30k", ".", "out")


def test_mirflickr_with_images_embeds_them(mirflickr_source, tmp_path):
    output = tmp_path / "out"
    dataset = build_dataset("mirflickr25k", mirflickr_source, output, protocols=())
    shutil.rmtree(mirflickr_source / "images")  # the saved dataset must not depend on the source pictures
    reloaded = datasets.load_from_disk(str(output))
    assert reloaded.column_names == ["image", "text", "text_features", "labels"]
    assert reloaded[1]["image"].size == (8, 6)
    assert dataset[0]["text"] == "sky sea sky" and dataset[0]["text_features"] == [1.0, 1.0, 0.0]
    assert dataset[1]["text_features"] == [0.0, 0.0, 0.0]  # "nikon" is not in the vocabulary
    assert dataset[2]["text_features"] == [0.0, 0.0, 1.0]  # matching is case-sensitive: "Sea" is not "sea"
    report = json.loads((output / "build_report.json").read_text())
    assert report["empty_text_features"] == [1] and report["has_images"] is True
    assert not (output / "splits").exists()


def test_mirflickr_partly_missing_images_is_an_error(mirflickr_source):
    (mirflickr_source / "images" / "im5.jpg").unlink()
    with pytest.raises(FileNotFoundError, match="im5.jpg"):
        build_mirflickr25k(mirflickr_source)


def test_misaligned_files_are_rejected(mirflickr_source):
    _write(mirflickr_source / "txt_database.txt", "sky\nsea")
    with pytest.raises(ValueError, match="aligned"):
        build_mirflickr25k(mirflickr_source)


def test_failed_build_keeps_the_previous_output(mirflickr_source, tmp_path, monkeypatch):
    output = tmp_path / "out"
    build_dataset("mirflickr25k", mirflickr_source, output, protocols=())
    before = sorted(p.name for p in output.iterdir())

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(build_module, "_write_side_files", fail)
    with pytest.raises(RuntimeError, match="disk full"):
        build_dataset("mirflickr25k", mirflickr_source, output)
    assert sorted(p.name for p in output.iterdir()) == before
    assert len(datasets.load_from_disk(str(output))) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirflickr", "out"]  # no staging folder left behind


def test_rebuild_replaces_output_but_never_a_foreign_folder(mirflickr_source, tmp_path):
    output = tmp_path / "out"
    build_dataset("mirflickr25k", mirflickr_source, output, protocols=())
    build_dataset("mirflickr25k", mirflickr_source, output, protocols=())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mirflickr", "out"]
    foreign = tmp_path / "notes"
    _write(foreign / "keep.txt", "mine")
    with pytest.raises(FileExistsError, match="notes"):
        build_dataset("mirflickr25k", mirflickr_source, foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_push_to_hub_pushes_dataset_and_side_files(mirflickr_source, tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(datasets.Dataset, "push_to_hub", lambda self, repo_id: calls.append(("data", repo_id)))
    monkeypatch.setattr(
        "huggingface_hub.HfApi.upload_folder",
        lambda self, **kwargs: calls.append(("files", kwargs["repo_id"], kwargs["allow_patterns"])),
    )
    build_dataset("mirflickr25k", mirflickr_source, tmp_path / "out", push_to_hub="me/mir", protocols=())
    assert calls[0] == ("data", "me/mir")
    assert calls[1][:2] == ("files", "me/mir") and "splits/*.json" in calls[1][2]


@pytest.fixture
def nuswide_source(tmp_path: Path) -> Path:
    """The official NUS-WIDE layout with 5 images and 3 concepts."""
    source = tmp_path / "nuswide"
    names = ["0001_101.jpg", "0002_102.jpg", "0003_103.jpg", "0004_104.jpg", "0005_105.jpg"]
    _write(source / "ImageList" / "Imagelist.txt", "".join(f"C:\\ImageData\\Flickr\\sky\\{n}\n" for n in names))
    _write(source / "ConceptsList" / "Concepts81.txt", "animal\nclouds\nsky\n")
    columns = {"animal": [1, 0, 0, 0, 0], "clouds": [0, 1, 1, 0, 0], "sky": [0, 1, 0, 1, 0]}
    for concept, values in columns.items():
        _write(source / "Groundtruth" / "AllLabels" / f"Labels_{concept}.txt", "".join(f"{v}\n" for v in values))
    tags = ["101      cat", "102      sky cloud", "103      cloud", "104      blue sky sky", "105      "]
    _write(source / "NUS_WID_Tags" / "All_Tags.txt", "\n".join(tags) + "\n")
    _write(source / "NUS_WID_Tags" / "TagList1k.txt", "cat\ncloud\nsky\n")
    bows = ["1 0 0", "0 1 1", "0 1 0", "0 0 1", "0 0 0"]
    _write(source / "NUS_WID_Tags" / "AllTags1k.txt", "\n".join(f"{row} " for row in bows) + "\n")
    for name in names:
        _picture(source / "Flickr" / "sky" / name, (10, 20, 30))
    return source


def test_nuswide_official_layout_top_concepts(nuswide_source):
    built = build_nuswide(nuswide_source, num_concepts=2)
    # clouds and sky have 2 positives each, animal 1: the top 2 are clouds and sky, in Concepts81 order.
    assert built.label_names == ["clouds", "sky"]
    assert built.report["source_row"] == [1, 2, 3]  # image 0 (animal only) and image 4 (no label) are dropped
    dataset = built.dataset
    assert dataset["text"] == ["sky cloud", "cloud", "blue sky sky"]
    assert dataset["labels"] == [[0, 1], [0], [1]]
    assert dataset["text_features"] == [[0.0, 1.0, 1.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    assert built.vocabulary == ["cat", "cloud", "sky"] and dataset[0]["image"].size == (8, 6)


def test_nuswide_default_keeps_all_concepts_of_a_small_list(nuswide_source, tmp_path):
    dataset = build_dataset("nuswide", nuswide_source, tmp_path / "out", protocols=())
    assert dataset.features["labels"].feature.names == ["animal", "clouds", "sky"]
    assert len(dataset) == 4


def test_nuswide_rejects_misaligned_tags(nuswide_source):
    _write(nuswide_source / "NUS_WID_Tags" / "All_Tags.txt", "101 cat\n999 sky\n103 a\n104 b\n105\n")
    with pytest.raises(ValueError, match="999"):
        build_nuswide(nuswide_source)


def test_nuswide_missing_label_file_is_named(nuswide_source):
    (nuswide_source / "Groundtruth" / "AllLabels" / "Labels_sky.txt").unlink()
    with pytest.raises(FileNotFoundError, match="Labels_sky.txt"):
        build_nuswide(nuswide_source)


@pytest.fixture
def iapr_source(tmp_path: Path) -> Path:
    """IAPR TC-12 + SAIAPR TC-12 labels: 3 images in two folders, 4 concepts of which one is unused."""
    source = tmp_path / "iapr"
    _write(source / "wlist.txt", "1\tsky\n2\tunused\n3\tsea\n4\tman\n")
    _write(source / "saiapr_tc-12" / "00" / "labels.txt", "25 1 3\n25 2 1\n25 3 1\n7 1 4\n")
    _write(source / "saiapr_tc-12" / "01" / "labels.txt", "1000 1 1\n")
    eng = "<DOC>\n<DOCNO>annotations/{f}/{i}.eng</DOCNO>\n<TITLE>t</TITLE>\n<DESCRIPTION>{d}</DESCRIPTION>\n</DOC>\n"
    _write(source / "annotations_complete_eng/00/25.eng", eng.format(f="00", i=25, d="a calm\n  sea;"))
    _write(source / "annotations_complete_eng/00/7.eng", eng.format(f="00", i=7, d="a man in Bogotá;"), "latin-1")
    _write(source / "annotations_complete_eng/01/1000.eng", eng.format(f="01", i=1000, d="blue sky"))
    for folder, image_id in [("00", 25), ("00", 7), ("01", 1000)]:
        _picture(source / "images" / folder / f"{image_id}.jpg", (200, 200, 200))
    return source


def test_iaprtc12_layout(iapr_source, tmp_path):
    dataset = build_dataset("iaprtc12", iapr_source, tmp_path / "out", protocols=())
    assert dataset.features["labels"].feature.names == ["sky", "sea", "man"]  # "unused" labels no region
    assert dataset["text"] == ["a man in Bogotá;", "a calm sea;", "blue sky"]  # image-id order: 7, 25, 1000
    assert dataset["labels"] == [[2], [0, 1], [0]]
    assert dataset[2]["image"].size == (8, 6)
    report = json.loads((tmp_path / "out" / "build_report.json").read_text())
    assert report["image_ids"] == [7, 25, 1000] and report["label_counts"] == [2, 1, 1]


def test_iaprtc12_missing_annotation_is_named(iapr_source):
    (iapr_source / "annotations_complete_eng" / "01" / "1000.eng").unlink()
    with pytest.raises(FileNotFoundError, match="1000.eng"):
        build_iaprtc12(iapr_source)


def test_iaprtc12_without_images_keeps_text_and_labels(iapr_source):
    shutil.rmtree(iapr_source / "images")
    built = build_iaprtc12(iapr_source)
    assert "image" not in built.dataset.column_names and len(built.dataset) == 3


@pytest.fixture
def coco_source(tmp_path: Path) -> Path:
    """The official COCO layout: annotations/ and one folder per split."""
    source = tmp_path / "coco"
    images = [{"id": 3, "file_name": "3.jpg"}, {"id": 1, "file_name": "1.jpg"}, {"id": 2, "file_name": "2.jpg"}]
    captions = [
        {"image_id": 1, "id": 50, "caption": "Second caption."},
        {"image_id": 1, "id": 40, "caption": "First  caption.\n"},
        {"image_id": 3, "id": 60, "caption": "Only caption."},
        {"image_id": 2, "id": 70, "caption": "Unlabelled image."},
    ]
    instances = [{"image_id": 1, "id": 1, "category_id": 5}, {"image_id": 3, "id": 2, "category_id": 2},
                 {"image_id": 3, "id": 3, "category_id": 2}]
    categories = [{"id": 5, "name": "airplane"}, {"id": 2, "name": "bicycle"}]
    _write(source / "annotations" / "captions_val2014.json", json.dumps({"images": images, "annotations": captions}))
    _write(source / "annotations" / "instances_val2014.json",
           json.dumps({"images": images, "annotations": instances, "categories": categories}))
    for image in images:
        _picture(source / "val2014" / image["file_name"], (0, 0, 0))
    return source


def test_mscoco_official_layout(coco_source):
    built = build_mscoco(coco_source)
    assert built.label_names == ["bicycle", "airplane"]  # category-id order
    assert built.dataset["text"] == ["First caption.", "Only caption."]
    assert built.dataset["labels"] == [[1], [0]]
    assert built.report["num_dropped_without_labels"] == 1 and built.report["captions_per_image"] == [2, 1]
    assert built.dataset[0]["image"].size == (8, 6)


def test_mscoco_missing_instances_file_is_named(coco_source):
    (coco_source / "annotations" / "instances_val2014.json").unlink()
    with pytest.raises(FileNotFoundError, match="instances_val2014.json"):
        build_mscoco(coco_source)


def test_mscoco_missing_split_folder_warns(coco_source, caplog):
    shutil.rmtree(coco_source / "val2014")
    built = build_mscoco(coco_source)
    assert str(coco_source / "val2014") in caplog.text
    assert "image" not in built.dataset.column_names and "NO IMAGES" in built.dataset.info.description


def test_wiki_missing_variables(tmp_path):
    with h5py.File(tmp_path / "wiki_data.mat", "w") as handle:
        handle["I_tr"] = np.ones((128, 2))
    with pytest.raises(ValueError, match="L_te"):
        BUILDERS["wiki"](tmp_path)
