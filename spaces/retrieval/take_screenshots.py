"""Take the Space's README screenshots from a trained model (the demo's): serve the page, drive headless Chromium.

    python spaces/retrieval/take_screenshots.py --model runs/demo-dcmh32 --index runs/demo-dcmh32/index

Writes ``text_to_images.png`` (a text query naming a shape and a colour), ``image_to_texts.png`` and
``image_to_images.png`` (a query picture of the model's query split) and ``add_pictures.png`` into
``spaces/retrieval/screenshots/`` (``--output`` to change). Needs Debian's chromium (``/usr/bin/chromium``,
which ``make setup`` installs) and Playwright (the ``dev`` extra). The page is driven as in
``tests/test_space_browser.py``.

Example:
    >>> parse_args(["--model", "runs/demo-dcmh32"]).text  # doctest: +SKIP
    'a red circle'
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from app import build_app  # noqa: E402
from retrieval_space import RetrievalSpace  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"]
TIMEOUT_MS = 60_000


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="run folder or Hub id (the demo: runs/demo-dcmh32)")
    parser.add_argument("--index", default=None, help="index folder from `cmhash index` (default: the model's own)")
    parser.add_argument("--text", default="a red circle", help="the text → images query (name a shape and a colour)")
    parser.add_argument("--query-row", type=int, default=0, help="which query-split picture the picture tabs search with")
    parser.add_argument("--output", default=str(HERE / "screenshots"))
    return parser.parse_args(argv)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _query_picture(space: RetrievalSpace, model: str, row: int, folder: Path) -> Path:
    """The ``row``-th picture of the model's query split, enlarged to 96 px, saved as a PNG to upload."""
    import json

    from cmhash_hf.data.splits import SplitIndices, split_file_name

    args = json.loads((Path(model) / "training_args.json").read_text())
    saved = Path(model) / split_file_name(args.get("protocol", "classic"), args.get("split_seed", 0))
    split = SplitIndices.load(saved) if saved.is_file() else space.data.get_split("classic", 0)
    path = folder / "my_shapes.png"
    space.data.dataset[int(split.query[row])]["image"].resize((96, 96)).save(path)
    return path


def main(argv: Sequence[str] | None = None) -> None:
    from playwright.sync_api import expect, sync_playwright

    ns = parse_args(argv)
    output = Path(ns.output)
    output.mkdir(parents=True, exist_ok=True)
    space = RetrievalSpace.load(ns.model, ns.index)
    demo = build_app(space)
    demo.launch(server_name="127.0.0.1", server_port=_free_port(), prevent_thread_lock=True, quiet=True)
    expect.set_options(timeout=TIMEOUT_MS)
    with tempfile.TemporaryDirectory() as scratch, sync_playwright() as playwright:
        picture = _query_picture(space, ns.model, ns.query_row, Path(scratch))
        context = playwright.chromium.launch_persistent_context(
            str(Path(scratch) / "profile"), executable_path=CHROMIUM, headless=True, args=FLAGS,
            viewport={"width": 1000, "height": 820},
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(demo.local_url)
        page.locator("#text-query textarea").fill(ns.text)
        page.locator("#text-search").click()
        expect(page.locator("#text-status")).to_contain_text("Top")
        page.wait_for_function("() => [...document.querySelectorAll('#text-results img')].every(i => i.naturalWidth > 0)")
        page.screenshot(path=str(output / "text_to_images.png"), full_page=True)
        page.get_by_role("tab", name="Image → texts").click()
        page.locator("#i2t-query input[type=file]").set_input_files(str(picture))
        expect(page.locator("#i2t-query img").first).to_be_visible()
        page.locator("#i2t-search").click()
        expect(page.locator("#i2t-status")).to_contain_text("Top")
        page.screenshot(path=str(output / "image_to_texts.png"), full_page=True)
        page.get_by_role("tab", name="Add your pictures").click()
        page.locator("#add-files input[type=file]").set_input_files(str(picture))
        page.locator("#add-button").click()
        expect(page.locator("#add-status")).to_contain_text("Added 1 picture(s)")
        page.screenshot(path=str(output / "add_pictures.png"), full_page=True)
        page.get_by_role("tab", name="Image → images").click()
        page.locator("#i2i-query input[type=file]").set_input_files(str(picture))
        expect(page.locator("#i2i-query img").first).to_be_visible()
        page.locator("#i2i-search").click()
        expect(page.locator("#i2i-status")).to_contain_text("Top")
        page.wait_for_function("() => [...document.querySelectorAll('#i2i-results img')].every(i => i.naturalWidth > 0)")
        page.screenshot(path=str(output / "image_to_images.png"), full_page=True)
        context.close()
    demo.close()
    print(f"Wrote text_to_images.png, image_to_texts.png, add_pictures.png, image_to_images.png in {output}")


if __name__ == "__main__":
    main()
