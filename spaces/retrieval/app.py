"""The cmhash-hf retrieval Space: text → images, image → texts, image → images, and your own pictures.

Run locally (serves on http://127.0.0.1:7860 and prints the URL):

    python spaces/retrieval/app.py --model runs/demo-dcmh32 [--index runs/demo-dcmh32/index] [--dataset builtin:shapes]
        [--uri http://milvus:19530]

On Hugging Face Spaces the model comes from the ``CMHASH_MODEL`` variable (a Hub id), and optionally
``CMHASH_INDEX`` / ``CMHASH_DATASET`` / ``CMHASH_URI`` / ``CMHASH_BACKEND``. The logic lives in ``retrieval_space.py``; this file only lays out the page.

Example:
    >>> demo = build_app(RetrievalSpace.load("runs/demo-dcmh32"))  # doctest: +SKIP
    >>> demo.launch(server_name="127.0.0.1", prevent_thread_lock=True)  # doctest: +SKIP
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import gradio as gr  # noqa: E402

from retrieval_space import DEFAULT_K, MAX_K, RetrievalSpace, UnreadableUpload  # noqa: E402

SHAPES_EXAMPLES = ["a red circle", "a blue star and a yellow square", "a green triangle", "two shapes on stripes"]
THEME = gr.themes.Soft()
#: Requests answered at once (Gradio's worker threads per event). Encoding takes a lock and is short; the rest of
#: an answer (search, picture files) runs in parallel. CMHASH_CONCURRENCY overrides it.
CONCURRENCY = int(os.environ.get("CMHASH_CONCURRENCY", "8"))
#: Requests waiting beyond those: more are refused at once with "the queue is full" rather than left to time out.
QUEUE_SIZE = int(os.environ.get("CMHASH_QUEUE_SIZE", "256"))


def tolerant_image(component: gr.Image) -> gr.Image:
    """Make a picture input hand an uploaded file that is not a picture to the handler as `UnreadableUpload`,
    so the page shows a message in its status line instead of Gradio's generic error."""
    preprocess = component.preprocess

    def checked(payload):  # noqa: ANN001, ANN202 - Gradio's payload type
        try:
            return preprocess(payload)
        except Exception as err:  # noqa: BLE001 - PIL raises several kinds for a file that is not a picture
            name = getattr(payload, "orig_name", None) or Path(str(getattr(payload, "path", "") or "upload")).name
            return UnreadableUpload(name, str(err).splitlines()[0] if str(err) else type(err).__name__)

    component.preprocess = checked
    return component


def build_app(space: RetrievalSpace) -> gr.Blocks:
    """The page for ``space``: a header about the model, then one tab per kind of search and one to add pictures.

    Result pictures are served straight from the Space's write-once picture folder (a static path: Gradio neither
    hashes nor copies them per request); the queue answers `CONCURRENCY` requests at once and holds `QUEUE_SIZE`.
    """
    gr.set_static_paths(paths=[str(space.files.folder)])
    with gr.Blocks(title="cmhash-hf retrieval") as demo:
        gr.Markdown(space.header_markdown(), elem_id="header")
        added = gr.State(None)
        k = gr.Slider(1, MAX_K, value=DEFAULT_K, step=1, label="How many results", elem_id="k")
        with gr.Tab("Text → images", id="text-to-images"):
            text = gr.Textbox(label="Describe a picture", placeholder="a red circle and a blue star", elem_id="text-query")
            text_button = gr.Button("Search pictures", variant="primary", elem_id="text-search")
            text_status = gr.Markdown(elem_id="text-status")
            text_gallery = gr.Gallery(label="Nearest pictures", columns=4, height="auto", elem_id="text-results")
            if str(space.index.info.get("dataset")).startswith("builtin:shapes"):
                gr.Examples(SHAPES_EXAMPLES, inputs=text)
            gr.on([text_button.click, text.submit], space.text_to_images, [text, k, added], [text_gallery, text_status],
                  api_name="text_to_images")
        with gr.Tab("Image → texts", id="image-to-texts"):
            picture = tolerant_image(gr.Image(type="pil", label="Query picture", height=180, elem_id="i2t-query"))
            texts_button = gr.Button("Search texts", variant="primary", elem_id="i2t-search")
            texts_status = gr.Markdown(elem_id="i2t-status")
            texts_table = gr.Dataframe(headers=["rank", "distance", "caption", "labels"], wrap=True,
                                       column_widths=["60px", "80px", "52%", "32%"], label="Nearest texts",
                                       elem_id="i2t-results")
            texts_button.click(space.image_to_texts, [picture, k], [texts_table, texts_status], api_name="image_to_texts")
        with gr.Tab("Image → images", id="image-to-images"):
            similar = tolerant_image(gr.Image(type="pil", label="Query picture", height=180, elem_id="i2i-query"))
            similar_button = gr.Button("Search pictures", variant="primary", elem_id="i2i-search")
            similar_status = gr.Markdown(elem_id="i2i-status")
            similar_gallery = gr.Gallery(label="Nearest pictures", columns=4, height="auto", elem_id="i2i-results")
            similar_button.click(space.image_to_images, [similar, k, added], [similar_gallery, similar_status],
                                 api_name="image_to_images")
        with gr.Tab("Add your pictures", id="add-pictures"):
            gr.Markdown("Pictures added here join the picture index for this browser session only: both picture "
                        "searches can then return them.")
            files = gr.File(file_count="multiple", file_types=["image"], label="Pictures", elem_id="add-files")
            add_button = gr.Button("Add to the index", variant="primary", elem_id="add-button")
            add_status = gr.Markdown(elem_id="add-status")
            add_button.click(space.add_pictures, [files, added], [added, add_status], api_name="add_pictures")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    return demo


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Serve the cmhash-hf retrieval Space.")
    parser.add_argument("--model", default=os.environ.get("CMHASH_MODEL"), help="checkpoint folder or Hub id")
    parser.add_argument("--index", default=os.environ.get("CMHASH_INDEX"), help="index folder from `cmhash index`")
    parser.add_argument("--dataset", default=os.environ.get("CMHASH_DATASET"),
                        help="dataset to index when there is no index (default: the model's training dataset)")
    parser.add_argument("--uri", default=os.environ.get("CMHASH_URI"),
                        help="where the collection's codes are served (e.g. http://host:19530), if not where it was built")
    parser.add_argument("--backend", default=os.environ.get("CMHASH_BACKEND", "exact"),
                        help="backend of a collection built at start (when there is no index)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    ns = parser.parse_args(argv)
    if not ns.model:
        parser.error("pass --model DIR_OR_HUB_ID (or set CMHASH_MODEL)")
    return ns


def main(argv: Sequence[str] | None = None) -> None:
    ns = parse_args(argv)
    space = RetrievalSpace.load(ns.model, ns.index, ns.dataset, uri=ns.uri, backend=ns.backend)
    build_app(space).launch(server_name=ns.host, server_port=ns.port, theme=THEME)


if __name__ == "__main__":
    main()
