"""The retrieval Space in a real browser: headless Debian Chromium driven by Playwright, as a visitor uses it.

Needs /usr/bin/chromium (`make setup` installs Debian's package when it is missing); without it these tests fail
(they never skip). The Space README's screenshots come from the demo model instead
(spaces/retrieval/take_screenshots.py).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from hub_runs import free_port, load_app_module, shared_tiny_run

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000
# every expect() waits as long as page actions do: a loaded 2-core CI machine answers slowly
expect.set_options(timeout=TIMEOUT_MS)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The Space on a free 127.0.0.1 port, serving a tiny trained run and the index of its query split."""
    app = load_app_module()
    demo = app.build_app(sys.modules["retrieval_space"].RetrievalSpace.load(str(shared_tiny_run(tmp_path_factory))))
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo.local_url
    demo.close()


@pytest.fixture(scope="module")
def page(served, tmp_path_factory):
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (it installs Debian's chromium), or "
                    "`apt-get update && apt-get install -y chromium`.")
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=str(CHROMIUM), headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1000, "height": 820},
        )
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(served)
        yield page
        context.close()


@pytest.fixture(scope="module")
def picture(tmp_path_factory):
    from cmhash_hf.data import load_cross_modal_dataset

    data = load_cross_modal_dataset("builtin:shapes")
    path = tmp_path_factory.mktemp("upload") / "my_shapes.png"
    data.dataset[int(data.get_split("classic", 0).query[7])]["image"].resize((96, 96)).save(path)
    return path


def _screenshot(page, name: str, folder: Path) -> None:
    path = folder / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5_000


def _loaded_images(page, selector: str) -> int:
    return page.eval_on_selector_all(selector, "imgs => imgs.filter(i => i.complete && i.naturalWidth > 0).length")


def test_a_visitor_types_a_query_and_sees_pictures(page, tmp_path):
    expect(page.locator("#header")).to_contain_text("16 bits")
    page.locator("#text-query textarea").fill("a red circle and a blue star")
    page.locator("#text-search").click()
    expect(page.locator("#text-status")).to_contain_text("Top 8 of 400 pictures")
    expect(page.locator("#text-results img").first).to_be_visible()
    page.wait_for_function("() => [...document.querySelectorAll('#text-results img')].some(i => i.naturalWidth > 0)")
    assert _loaded_images(page, "#text-results img") >= 1
    expect(page.locator("#text-results")).to_contain_text("distance")
    _screenshot(page, "text_to_images", tmp_path)


def test_a_visitor_uploads_a_picture_and_gets_ranked_texts(page, picture, tmp_path):
    page.get_by_role("tab", name="Image → texts").click()
    page.locator("#i2t-query input[type=file]").set_input_files(str(picture))
    expect(page.locator("#i2t-query img").first).to_be_visible()
    page.locator("#i2t-search").click()
    expect(page.locator("#i2t-status")).to_contain_text("Top 8 of 400 texts for your picture")
    expect(page.locator("#i2t-results")).to_contain_text("distance")
    _screenshot(page, "image_to_texts", tmp_path)


def test_a_visitor_adds_a_picture_then_searches_pictures_by_picture(page, picture, tmp_path):
    page.get_by_role("tab", name="Add your pictures").click()
    page.locator("#add-files input[type=file]").set_input_files(str(picture))
    expect(page.locator("#add-files").get_by_role("cell", name="my_shapes.png")).to_be_visible()  # text splits name and .png
    page.locator("#add-button").click()
    expect(page.locator("#add-status")).to_contain_text("Added 1 picture(s); the picture index now holds 401.")
    _screenshot(page, "add_pictures", tmp_path)
    page.get_by_role("tab", name="Image → images").click()
    page.locator("#i2i-query input[type=file]").set_input_files(str(picture))
    expect(page.locator("#i2i-query img").first).to_be_visible()
    page.locator("#i2i-search").click()
    expect(page.locator("#i2i-status")).to_contain_text("Top 8 of 401 pictures for your picture")
    page.wait_for_function("() => [...document.querySelectorAll('#i2i-results img')].some(i => i.naturalWidth > 0)")
    expect(page.locator("#i2i-results")).to_contain_text("distance 0")
    _screenshot(page, "image_to_images", tmp_path)


def test_an_empty_query_shows_a_message_in_the_page(page):
    page.get_by_role("tab", name="Text → images").click()
    page.locator("#text-query textarea").fill("")
    page.locator("#text-search").click()
    expect(page.locator("#text-status")).to_contain_text("Type a text query first.")
