"""The retrieval Space: its functions called directly, and the served app queried with gradio_client."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from gradio_client import Client, handle_file
from PIL import Image

from cmhash_hf.data import load_cross_modal_dataset
from cmhash_hf.retrieval.collection import Collection, CollectionWriter

from hub_runs import SPACE, free_port, load_app_module, shared_tiny_run

DISTANCE = re.compile(r"^#(\d+) · distance (\d+) · ")


@pytest.fixture(scope="module")
def app():
    return load_app_module()


@pytest.fixture(scope="module")
def space(app, tmp_path_factory):
    return sys.modules["retrieval_space"].RetrievalSpace.load(str(shared_tiny_run(tmp_path_factory)))


@pytest.fixture(scope="module")
def picture_file(tmp_path_factory):
    data = load_cross_modal_dataset("builtin:shapes")
    path = tmp_path_factory.mktemp("pictures") / "query.png"
    data.dataset[int(data.get_split("classic", 0).query[3])]["image"].save(path)
    return path


def _distances(captions: list[str]) -> list[int]:
    parsed = [DISTANCE.match(caption) for caption in captions]
    assert all(parsed), captions
    assert [int(m.group(1)) for m in parsed] == list(range(1, len(parsed) + 1))
    return [int(m.group(2)) for m in parsed]


def test_header_names_method_bits_index_and_card(space):
    header = space.header_markdown()
    assert "`dcmh`" in header and "**16 bits**" in header and "400 items of `builtin:shapes` (query split)" in header
    assert "### DCMH · 16-bit codes · builtin:shapes" in header  # the card's summary


def test_text_to_images_is_a_gallery_ranked_by_hamming_distance(space):
    gallery, status = space.text_to_images("a red circle", 6, None)
    assert len(gallery) == 6 and all(Image.open(picture).size == (64, 64) for picture, _ in gallery)
    assert all(Path(picture).parent == space.files.folder for picture, _ in gallery)  # write-once picture files
    distances = _distances([caption for _, caption in gallery])
    assert distances == sorted(distances) and status.startswith("Top 6 of 400 pictures")


def test_image_to_texts_is_a_ranked_list_and_image_to_images_finds_the_picture_itself(space, picture_file):
    rows, status = space.image_to_texts(str(picture_file), 5)
    assert [row[0] for row in rows] == [1, 2, 3, 4, 5] and [row[1] for row in rows] == sorted(row[1] for row in rows)
    assert all(isinstance(row[2], str) and row[2] for row in rows) and "texts for your picture" in status
    gallery, _ = space.image_to_images(Image.open(picture_file), 48, None)
    assert _distances([caption for _, caption in gallery])[0] == 0


def test_added_pictures_are_searched_for_this_visitor_only(space, picture_file, tmp_path):
    empty = Collection.load(CollectionWriter(tmp_path / "empty", 16, info={"dataset": "builtin:shapes"}).finish())
    alone = type(space)(space.model, space.processor, empty, space.data)
    assert alone.text_to_images("a red circle", 4, None) == ([], "⚠️ The index is empty: there are no pictures to search.")
    added, status = alone.add_pictures([str(picture_file)], None)
    assert status == "Added 1 picture(s); the picture index now holds 1." and added.index.num_images == 1
    gallery, _ = alone.image_to_images(str(picture_file), 4, added)
    assert [caption for _, caption in gallery] == ["#1 · distance 0 · your picture query.png"]
    assert alone.image_to_images(str(picture_file), 4, None)[0] == [] and empty.num_images == 0


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda s, bad: s.text_to_images("   ", 5, None), "Type a text query first"),
        (lambda s, bad: s.image_to_texts(None, 5), "Upload a query picture first"),
        (lambda s, bad: s.image_to_images(str(bad), 5, None), "could not be read as a picture"),
        (lambda s, bad: s.image_to_texts(str(bad.parent / "missing.png"), 5), "no file at"),
        (lambda s, bad: s.add_pictures([], None), "Choose one or more picture files"),
        (lambda s, bad: s.add_pictures([str(bad)], None), "Could not read: broken.png"),
    ],
)
def test_bad_input_is_a_message_not_an_exception(space, tmp_path, call, message):
    bad = tmp_path / "broken.png"
    bad.write_text("this is not a picture")
    results, status = call(space, bad)
    assert status.startswith("⚠️") and message in status, status
    assert not results


def test_the_served_app_answers_gradio_client(app, space, picture_file):
    demo = app.build_app(space)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    try:
        client = Client(demo.local_url, verbose=False)
        gallery, status = client.predict("a blue star", 4, api_name="/text_to_images")
        assert len(gallery) == 4 and all(Path(item["image"]).is_file() for item in gallery)
        assert _distances([item["caption"] for item in gallery]) == sorted(_distances([item["caption"] for item in gallery]))
        table, status = client.predict(handle_file(str(picture_file)), 3, api_name="/image_to_texts")
        assert [row[0] for row in table["data"]] == [1, 2, 3] and "texts for your picture" in status
        assert client.predict("", 4, api_name="/text_to_images") == ([], "⚠️ Type a text query first.")
    finally:
        demo.close()


def test_space_readme_metadata_and_requirements():
    text = (SPACE / "README.md").read_text(encoding="utf-8")
    front = yaml.safe_load(re.match(r"^---\n(.*?)\n---\n", text, re.S).group(1))
    assert front["sdk"] == "gradio" and front["app_file"] == "app.py" and front["title"]
    assert "cmhash-hf" in (SPACE / "requirements.txt").read_text()
    for name in ("text_to_images", "image_to_texts", "image_to_images", "add_pictures"):
        assert f"screenshots/{name}.png" in text and (SPACE / "screenshots" / f"{name}.png").is_file()


@pytest.mark.parametrize("backend", ["exact", "lancedb", "milvus"])
def test_a_collection_of_a_plain_picture_folder_in_any_backend_shows_pictures_and_file_names(app, tmp_path_factory,
                                                                                            backend):
    """A folder of photos (no captions, no labels) indexed with `cmhash index --images` into each backend."""
    from cmhash_hf.cli import main

    run = shared_tiny_run(tmp_path_factory)
    photos = tmp_path_factory.mktemp("photos")
    data = load_cross_modal_dataset("builtin:shapes")
    for i in range(6):
        data.dataset[i]["image"].save(photos / f"photo-{i}.png")
    index = tmp_path_factory.mktemp(f"index-{backend}") / "photos"
    assert main(["index", str(run), "--images", str(photos), "--output", str(index), "--backend", backend]) == 0
    space = sys.modules["retrieval_space"].RetrievalSpace.load(str(run), str(index))
    assert "6 items from `" in space.header_markdown() and f"`{backend}` backend" in space.header_markdown()
    gallery, status = space.text_to_images("a red circle", 4, None)
    assert status.startswith("Top 4 of 6 pictures") and all(Image.open(p).size == (64, 64) for p, _ in gallery)
    names = [caption.split(" · ")[-1] for _, caption in gallery]
    assert len(gallery) == 4 and all(name.startswith("photo-") and name.endswith(".png") for name in names)
    gallery, _ = space.image_to_images(str(photos / "photo-3.png"), 6, None)
    assert _distances([caption for _, caption in gallery])[0] == 0 and "photo-3.png" in gallery[0][1] + "".join(
        caption for _, caption in gallery if caption.split(" · ")[1] == "distance 0")
    assert space.image_to_texts(str(photos / "photo-3.png"), 3) == ([], "⚠️ The index has no texts to search.")
    space.index.close()
