"""The cross_modal_map metric's Space: paste rows as JSON, get image→text and text→image mAP.

Written by hand because ``evaluate.utils.launch_gradio_widget`` is broken with Gradio 6 (theme and
css are passed to ``launch()`` there). Run locally with ``python spaces/cross_modal_map/app.py``.

Example:
    >>> compute_from_json(EXAMPLE_ROWS, 0, "standard")  # doctest: +SKIP
    {'map_i2t': 1.0, 'map_t2i': 0.9166666666666666}
"""

from __future__ import annotations

import json
from pathlib import Path

import evaluate
import gradio as gr

HERE = Path(__file__).resolve().parent

EXAMPLE_ROWS = json.dumps(
    [
        {"image_codes": [1, 1, -1, -1], "text_codes": [1, 1, -1, 1], "labels": [1, 0, 0], "is_query": True},
        {"image_codes": [-1, 1, 1, -1], "text_codes": [-1, 1, 1, 1], "labels": [0, 1, 1], "is_query": True},
        {"image_codes": [1, 1, 1, -1], "text_codes": [1, 1, -1, -1], "labels": [1, 0, 1], "is_query": False},
        {"image_codes": [-1, 1, 1, 1], "text_codes": [-1, -1, 1, 1], "labels": [0, 1, 0], "is_query": False},
        {"image_codes": [1, -1, -1, -1], "text_codes": [1, -1, -1, -1], "labels": [1, 0, 0], "is_query": False},
    ],
    indent=1,
)

_metric = None


def compute_from_json(rows_json: str, top_k: float | None, variant: str) -> dict[str, float]:
    """Parse ``rows_json`` (a list of row objects) and compute the metric; errors become messages in the page."""
    global _metric
    try:
        rows = json.loads(rows_json)
        columns = {name: [row[name] for row in rows] for name in ("image_codes", "text_codes", "labels", "is_query")}
    except (json.JSONDecodeError, TypeError, KeyError) as error:
        raise gr.Error(f"Rows must be a JSON list of objects with image_codes, text_codes, labels, is_query ({error})")
    if _metric is None:
        _metric = evaluate.load(str(HERE))
    try:
        return _metric.compute(**columns, top_k=int(top_k) if top_k else None, variant=variant)
    except (ValueError, TypeError) as error:
        raise gr.Error(str(error))


def build_demo() -> gr.Blocks:
    """The page: rows, options, a button and the result."""
    with gr.Blocks(title="cross_modal_map") as demo:
        gr.Markdown(
            "# cross_modal_map\nImage→text and text→image mAP of binary hash codes "
            "(Hamming ranking, ties in database order, relevance = at least one shared label)."
        )
        rows = gr.Code(value=EXAMPLE_ROWS, language="json", label="Rows")
        with gr.Row():
            top_k = gr.Number(value=0, precision=0, minimum=0, label="top_k (0 = mAP@all)")
            variant = gr.Radio(["standard", "dchmt"], value="standard", label="mAP@k variant")
        button = gr.Button("Compute", variant="primary")
        result = gr.JSON(label="Result")
        button.click(compute_from_json, inputs=[rows, top_k, variant], outputs=result)
    return demo


if __name__ == "__main__":
    build_demo().launch(theme=gr.themes.Soft())
