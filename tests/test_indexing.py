"""`cmhash index` on any collection: picture folders, caption files, streamed datasets; shards, resuming, processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from cmhash_hf import CrossModalHashModel, CrossModalHashProcessor
from cmhash_hf import indexing
from cmhash_hf.cli import main
from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.indexing import build_collection, open_source
from cmhash_hf.retrieval.collection import Collection

from hub_runs import free_port, shared_tiny_run

COLOURS = ["red", "blue", "green", "yellow", "purple", "orange", "white"]


@pytest.fixture(scope="module")
def model_and_processor():
    processor = CrossModalHashProcessor.from_texts(["a red circle", "a blue star", "two green squares"], text_mode="bow")
    model = CrossModalHashModel.for_method("dcmh", hash_bits=16,
                                           text_encoder={"kind": "bow", "input_dim": processor.text_vocab_size})
    return model, processor


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Seven shape pictures in a folder tree, plus a broken picture and a file that is no picture."""
    folder = tmp_path_factory.mktemp("photos")
    data = load_cross_modal_dataset("builtin:shapes", num_items=7)
    for i in range(7):
        target = folder / ("holiday" if i % 2 else "garden") / f"{i}-{COLOURS[i]}.png"
        target.parent.mkdir(exist_ok=True)
        data.dataset[i]["image"].save(target)
    (folder / "garden" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    (folder / "notes.txt").write_text("not a picture")
    return folder


def read_back(folder: Path) -> tuple[list, dict]:
    collection = Collection.load(folder)
    codes = {side: index.packed_codes() for side, index in collection.indexes.items()}
    return collection.items.to_pylist(), codes


def test_a_picture_folder_is_indexed_in_order_and_unreadable_files_are_reported(model_and_processor, photos, tmp_path):
    model, processor = model_and_processor
    report = build_collection(model, processor, open_source(images=photos), tmp_path / "index", shard_size=3,
                              batch_size=2, progress=False)
    expected = sorted(p.relative_to(photos).as_posix() for p in photos.rglob("*.png"))
    assert report.indexed == 7 and report.shards_encoded == 3  # 8 picture files in shards of 3, one unreadable
    assert len(report.skipped) == 1 and report.skipped[0].startswith("garden/broken.jpg: ")
    collection = Collection.load(report.folder)
    assert collection.items.column("path").to_pylist() == expected and list(collection.indexes) == ["image"]
    assert collection.info["source"] == "images" and collection.info["skipped"] == 1
    own = model.encode(images=[photos / expected[4]], processor=processor)
    hits = collection.search_images(own, k=7)
    assert hits[0].distance == 0 and expected[4] in [h.path for h in hits if h.distance == 0]
    assert collection.picture_path(hits[0]) == photos / hits[0].path
    np.testing.assert_array_equal(collection.indexes["image"].packed_codes(),
                                  model.encode(images=[photos / p for p in expected], processor=processor,
                                               precision="ubinary"))
    with pytest.raises(ValueError, match="has no text codes .* cannot be searched for texts"):
        collection.search_texts(own, 3)
    assert not (tmp_path / ".index.shards").exists()  # shards are removed once the collection is written


def test_caption_files_text_and_jsonl(model_and_processor, tmp_path):
    model, processor = model_and_processor
    (tmp_path / "captions.txt").write_text("a red circle\n\na blue star\ntwo green squares\n")
    lines = [{"text": "a red circle", "labels": ["red", "circle"]}, {"caption": "a blue star", "labels": ["blue"]}]
    (tmp_path / "captions.jsonl").write_text("\n".join(json.dumps(line) for line in lines))
    plain = build_collection(model, processor, open_source(texts=tmp_path / "captions.txt"), tmp_path / "plain",
                             progress=False)
    items, _ = read_back(plain.folder)
    assert [(i["row"], i["text"]) for i in items] == [(0, "a red circle"), (2, "a blue star"), (3, "two green squares")]
    tagged = Collection.load(build_collection(model, processor, open_source(texts=tmp_path / "captions.jsonl"),
                                              tmp_path / "tagged", progress=False).folder)
    hit = tagged.search_texts(model.encode(texts=["a blue star"], processor=processor), k=1)[0]
    assert (hit.text, hit.labels, hit.distance, hit.row) == ("a blue star", ["blue"], 0, 1)
    (tmp_path / "bad.jsonl").write_text('{"text": "fine"}\n{"title": "no text"}\n')
    with pytest.raises(ValueError, match=r"bad.jsonl, line 2: needs a string 'text' \(or 'caption'\) field"):
        open_source(texts=tmp_path / "bad.jsonl")


def test_a_killed_run_keeps_its_finished_shards_and_gives_the_same_collection(model_and_processor, photos, tmp_path,
                                                                                monkeypatch):
    model, processor = model_and_processor
    source = open_source(images=photos)
    reference = read_back(build_collection(model, processor, source, tmp_path / "reference", shard_size=2,
                                           progress=False).folder)
    real = indexing._encode_batch
    calls = []

    def dies_on_the_third_batch(*args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # as if the process were killed in shard 3
        return real(*args)

    monkeypatch.setattr(indexing, "_encode_batch", dies_on_the_third_batch)
    with pytest.raises(KeyboardInterrupt):
        build_collection(model, processor, source, tmp_path / "index", shard_size=2, batch_size=2, progress=False)
    assert sorted(p.name for p in (tmp_path / ".index.shards").iterdir()) == [
        "manifest.json", "shard-000000.arrow", "shard-000001.arrow"]
    assert not (tmp_path / "index").exists()
    monkeypatch.setattr(indexing, "_encode_batch", real)
    report = build_collection(model, processor, source, tmp_path / "index", shard_size=2, batch_size=2, progress=False)
    assert (report.shards_resumed, report.shards_encoded, report.indexed) == (2, 2, 7)
    again = read_back(report.folder)
    assert again[0] == reference[0] and all(np.array_equal(again[1][s], reference[1][s]) for s in reference[1])
    # other settings (here the shard size) start over instead of mixing shards
    monkeypatch.setattr(indexing, "_encode_batch", dies_on_the_third_batch)
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        build_collection(model, processor, source, tmp_path / "other", shard_size=2, batch_size=2, progress=False)
    monkeypatch.setattr(indexing, "_encode_batch", real)
    assert build_collection(model, processor, source, tmp_path / "other", shard_size=4, progress=False).shards_resumed == 0


def test_a_streamed_dataset_gives_the_collection_of_the_same_rows(model_and_processor, tmp_path):
    model, processor = model_and_processor
    data = load_cross_modal_dataset("builtin:shapes", num_items=9)
    rows = [{"image": data.dataset[i]["image"], "caption": data.texts()[i], "labels": ["x", f"y{i % 2}"]} for i in range(9)]
    folder = tmp_path / "hub-like"
    datasets.Dataset.from_list(rows).to_parquet(str(folder / "data" / "train-00000.parquet"))
    source = open_source(dataset=str(folder), streaming=True)
    assert source.sides == ("image", "text") and not source.sized
    report = build_collection(model, processor, source, tmp_path / "index", shard_size=4, batch_size=3, progress=False)
    items, codes = read_back(report.folder)
    assert [i["text"] for i in items] == data.texts()[:9] and [i["row"] for i in items] == list(range(9))
    assert items[3]["labels"] == ["x", "y1"]
    np.testing.assert_array_equal(codes["text"], model.encode(texts=data.texts()[:9], processor=processor,
                                                              precision="ubinary"))
    with pytest.raises(ValueError, match="--streaming needs --dataset"):
        open_source(streaming=True)


def test_two_processes_encode_their_own_shards_and_merge_them_in_input_order(model_and_processor, photos, tmp_path):
    """`cmhash index` under torchrun with two CPU processes gives the collection of one process."""
    model, processor = model_and_processor
    reference = read_back(build_collection(model, processor, open_source(images=photos), tmp_path / "one",
                                           shard_size=2, progress=False).folder)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(free_port()),
         "-m", "cmhash_hf.cli", "index", str(tmp_path / "model"), "--images", str(photos), "--output",
         str(tmp_path / "two"), "--shard-size", "2"],
        env=env, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Indexed 7 items") == 1  # reported once, by the main process
    two = read_back(tmp_path / "two")
    assert two[0] == reference[0] and np.array_equal(two[1]["image"], reference[1]["image"])


@pytest.mark.parametrize("backend", ["lancedb", "milvus"])
def test_index_a_picture_folder_into_a_backend_then_search_it_from_the_command_line(backend, photos, tmp_path,
                                                                                     tmp_path_factory, capsys):
    run = shared_tiny_run(tmp_path_factory)
    output = tmp_path / "photo-index"
    assert main(["index", str(run), "--images", str(photos), "--output", str(output), "--backend", backend,
                 "--shard-size", "4"]) == 0
    printed = capsys.readouterr().out
    assert f"Indexed 7 items of {photos} into {backend} -> {output}" in printed
    assert "Left out 1 unreadable file(s):\n  garden/broken.jpg: " in printed
    picture = sorted(photos.rglob("*.png"))[2]
    assert main(["search", str(run), "--index", str(output), "--text", "a red circle", "-k", "3"]) == 0
    printed = capsys.readouterr().out
    assert printed.count(".png  distance") == 3
    stored = json.loads((output / "collection.json").read_text())["index"]
    assert stored["backend"] == backend and stored["uri"] == ("milvus.db" if backend == "milvus" else ".")
    collection = Collection.load(output)
    hits = collection.search_images(CrossModalHashModel.from_pretrained(str(run)).encode(images=[picture]), k=1)
    assert hits[0].distance == 0
    collection.close()


def test_bad_index_input_is_one_clear_line(photos, tmp_path, tmp_path_factory, capsys):
    run = shared_tiny_run(tmp_path_factory)
    cases = [
        (["--images", str(photos), "--texts", str(photos / "notes.txt")], "Give one source"),
        (["--images", str(photos / "notes.txt")], "is not a folder of pictures"),
        (["--images", str(tmp_path)], "holds no picture files"),
        (["--images", str(photos), "--backend", "nope"], "Unknown index backend 'nope'"),
        (["--images", str(photos), "--backend", "milvus", "--uri", "http://127.0.0.1:9", "--option", "timeout=1"],
         "Cannot reach Milvus at http://127.0.0.1:9"),
    ]
    for extra, message in cases:
        assert main(["index", str(run), "--output", str(tmp_path / "out"), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("cmhash: error: ") and message in err, (extra, err)
