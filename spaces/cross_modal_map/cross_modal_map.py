"""Cross-modal mAP as an ``evaluate`` metric: image→text and text→image mean average precision of hash codes.

Each row is one image–text pair: its image code, its text code, its multi-hot labels, and whether
it is a query (``is_query=True``) or part of the retrieval database. Image queries are ranked
against the database text codes (I→T) and text queries against the database image codes (T→I),
by Hamming distance with ties in database order; relevance is sharing at least one label; a query
without relevant items scores 0. The numbers are exactly those of
``cmhash_hf.metrics.mean_average_precision`` (this module calls it; the Space's requirements.txt
installs ``cmhash-hf``).

Example:
    >>> import evaluate
    >>> metric = evaluate.load("spaces/cross_modal_map")  # doctest: +SKIP
    >>> metric.compute(
    ...     image_codes=[[1, 1], [1, -1], [-1, -1]],
    ...     text_codes=[[1, 1], [1, 1], [-1, -1]],
    ...     labels=[[1, 0], [1, 0], [0, 1]],
    ...     is_query=[True, False, False],
    ... )  # doctest: +SKIP
    {'map_i2t': 1.0, 'map_t2i': 1.0}
"""

from __future__ import annotations

import datasets
import evaluate
import numpy as np

from cmhash_hf.metrics import mean_average_precision

_CITATION = """\
@misc{cmhash_hf,
  title = {cmhash-hf: deep cross-modal hashing models in the Hugging Face style},
  year = {2025}
}
"""

_DESCRIPTION = """\
Mean average precision of cross-modal Hamming retrieval (image→text and text→image) over binary hash
codes, with multi-label relevance (at least one shared label) and a stable ranking (ties keep database
order). mAP@all by default; `top_k` gives mAP@k (standard, or `variant="dchmt"` for the CLIP-era
papers' variant).
"""

_KWARGS_DESCRIPTION = """
Args:
    image_codes: per row, the image code as a list of -1/+1 (or 0/1) values.
    text_codes: per row, the text code, same length as the image codes.
    labels: per row, the multi-hot label vector.
    is_query: per row, True for a query pair, False for a database pair.
    top_k: None for mAP@all, or k for mAP@k.
    variant: "standard" (AP over the relevant items inside the top k) or "dchmt".
Returns:
    map_i2t: mAP of image queries against database text codes.
    map_t2i: mAP of text queries against database image codes.
Examples:
    >>> metric = evaluate.load("spaces/cross_modal_map")
    >>> metric.compute(image_codes=[[1, 1], [1, -1]], text_codes=[[1, 1], [1, 1]], labels=[[1], [1]],
    ...                is_query=[True, False])
    {'map_i2t': 1.0, 'map_t2i': 1.0}
"""


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class CrossModalMap(evaluate.Metric):
    """Image→text and text→image mAP of hash codes (rows are image–text pairs)."""

    def _info(self) -> evaluate.MetricInfo:
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {
                    "image_codes": datasets.Sequence(datasets.Value("int8")),
                    "text_codes": datasets.Sequence(datasets.Value("int8")),
                    "labels": datasets.Sequence(datasets.Value("int8")),
                    "is_query": datasets.Value("bool"),
                }
            ),
            reference_urls=["https://huggingface.co/spaces/cmhash-hf/cross_modal_map"],
        )

    def _compute(self, image_codes, text_codes, labels, is_query, top_k=None, variant="standard"):
        # evaluate hands list features over as Python lists; turn them into arrays once.
        images, texts = np.asarray(image_codes, dtype=np.int8), np.asarray(text_codes, dtype=np.int8)
        label_matrix = np.asarray(labels, dtype=np.int8)
        queries = np.asarray(is_query, dtype=bool)
        if not queries.any() or queries.all():
            raise ValueError("cross_modal_map needs at least one query row (is_query=True) and one database row")
        database = ~queries

        def direction(query_codes, database_codes):
            return mean_average_precision(
                query_codes[queries], database_codes[database], label_matrix[queries], label_matrix[database],
                top_k=top_k, variant=variant,
            )

        return {"map_i2t": direction(images, texts), "map_t2i": direction(texts, images)}
