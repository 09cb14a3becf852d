"""Model cards: the ``README.md`` that `save_pretrained`, `cmhash evaluate` and `cmhash push` write beside a checkpoint.

The card is rendered from the Jinja template ``templates/model_card.md`` (shipped as package data) with
`huggingface_hub.ModelCard.from_template`. Its metadata carries ``library_name: cmhash-hf``, tags, the dataset,
the license, the base encoders (when a tower started from a pretrained one) and a ``model-index`` with one
result per retrieval direction; the direction is in the metric name (``mAP@all I→T``), because the Hub keeps only
the first task name of a results group. The human part says what the method is (its module docstring), how it was
trained (every setting of ``training_args.json``), how to use it, and its limitations.

A card is only ever rewritten when it carries `CARD_MARKER` (that is, when this module wrote it): a hand-written
``README.md`` in the folder is left alone.

Example:
    >>> from cmhash_hf import AutoConfig
    >>> config = AutoConfig.for_model("dcmh", hash_bits=16, dataset_name="builtin:shapes")
    >>> results = {"dataset": "builtin:shapes", "protocol": "classic", "split_seed": 0, "num_queries": 400,
    ...            "num_database": 2600, "checkpoint": "last epoch", "bits": 16,
    ...            "map_i2t": 0.81, "map_t2i": 0.83, "chance_i2t": 0.31, "chance_t2i": 0.31}
    >>> card = build_model_card(config, results=results, model_id="org/dcmh-shapes-16bit")
    >>> card.data.library_name, [r.metric_name for r in card.data.eval_results]
    ('cmhash-hf', ['mAP@all I→T (image query, text database)', 'mAP@all T→I (text query, image database)'])
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData
from transformers.utils import cached_file

from ..auto import get_method
from ..configuration_utils import CrossModalHashConfig
from ..encoders import kind_of
from ..runs import RESULTS_FILE, TRAINING_ARGS_FILE
from ..file_utils import atomic_write_text
from ..modeling_utils import load_hash_config

CARD_FILE = "README.md"
TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "model_card.md"
LIBRARY_NAME = "cmhash-hf"
DEFAULT_LICENSE = "apache-2.0"
CARD_MARKER = (
    "<!-- Written by cmhash-hf (save_pretrained, cmhash evaluate, cmhash push), which rewrite it. "
    "Delete this line to keep your own edits. -->"
)
TASK_TYPE = "image-text-retrieval"
TASK_NAME = "Cross-modal retrieval by Hamming ranking"
DIRECTION_METRICS = {
    "i2t": "mAP@all I→T (image query, text database)",
    "t2i": "mAP@all T→I (text query, image database)",
}


def public_name(name_or_path: str | None) -> str | None:
    """A name fit for a public card: a Hub id or ``builtin:`` name as is, a local path reduced to its last part.

    Example:
        >>> public_name("builtin:shapes"), public_name("some-org/mirflickr25k"), public_name("/tmp")
        ('builtin:shapes', 'some-org/mirflickr25k', 'tmp')
    """
    if not name_or_path:
        return None
    path = Path(name_or_path)
    return path.name if path.is_absolute() or path.exists() else str(name_or_path)


def _method_module_doc(model_type: str) -> str:
    _, model_class = get_method(model_type)
    return textwrap.dedent(sys.modules[model_class.__module__].__doc__ or "").strip()


def _tower_text(spec: Mapping[str, Any], modality: str) -> str:
    """The tower's kind describes it (`TowerKind.describe`); a local checkpoint path keeps only its last part."""
    kind = kind_of(spec)
    base = kind.pretrained_name(spec)
    return kind.describe({**spec, "name_or_path": public_name(base)} if base else dict(spec), modality)


def method_settings(config: CrossModalHashConfig) -> list[tuple[str, str]]:
    """The method's own config fields (those a plain `CrossModalHashConfig` lacks) as (name, JSON value) rows."""
    shared = set(CrossModalHashConfig().to_dict())
    own = {k: v for k, v in config.to_dict().items() if k not in shared}
    return [(name, json.dumps(value, ensure_ascii=False)) for name, value in sorted(own.items())]


def training_rows(training_args: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Every training setting as (name, JSON value); ``output_dir`` keeps only its last part (no local paths)."""
    rows = []
    for name, value in training_args.items():
        if name == "output_dir" and value:
            value = Path(str(value)).name
        rows.append((name, json.dumps(value, ensure_ascii=False)))
    return rows


def eval_results(results: Mapping[str, Any]) -> list[EvalResult]:
    """One `EvalResult` per direction (I→T, T→I) from a ``results.json`` dict; none when it holds no mAP."""
    if not all(f"map_{d}" in results for d in DIRECTION_METRICS):
        return []
    dataset = public_name(results.get("dataset")) or "unknown"
    protocol = results.get("protocol", "classic")
    return [
        EvalResult(
            task_type=TASK_TYPE,
            task_name=TASK_NAME,
            dataset_type=dataset,
            dataset_name=dataset,
            dataset_config=protocol,
            dataset_split="query vs database",
            dataset_args={
                "protocol": protocol,
                "split_seed": results.get("split_seed", 0),
                "num_queries": results.get("num_queries"),
                "num_database": results.get("num_database"),
            },
            metric_type="map",
            metric_name=name,
            metric_value=round(float(results[f"map_{direction}"]), 4),
            metric_args={"bits": results.get("bits"), "direction": direction, "checkpoint": results.get("checkpoint")},
        )
        for direction, name in DIRECTION_METRICS.items()
    ]


def results_table(results: Mapping[str, Any]) -> tuple[list[tuple[str, str, str]], str]:
    """The card's results rows (direction, mAP, chance) and a sentence on how they were measured."""
    def number(key: str) -> str:
        return f"{results[key]:.4f}" if isinstance(results.get(key), (int, float)) else "n/a"

    rows = [(f"{label} ({arrow})", number(f"map_{d}"), number(f"chance_{d}"))
            for d, label, arrow in (("i2t", "image → text", "I→T"), ("t2i", "text → image", "T→I"))]
    setting = [f"`{public_name(results.get('dataset')) or 'unknown dataset'}`"]
    if results.get("num_queries") is not None:
        setting.append(f"{results['num_queries']} queries against {results.get('num_database')} database items")
    if results.get("protocol"):
        setting.append(f"`{results['protocol']}` split protocol (split seed {results.get('split_seed', 0)})")
    if results.get("checkpoint"):
        setting.append(f"checkpoint: {results['checkpoint']}")
    return rows, ", ".join(setting)


def _limitations(config: CrossModalHashConfig, dataset: str | None) -> list[str]:
    lines = []
    if dataset and dataset.startswith("builtin:"):
        lines.append(
            f"Trained and scored on `{dataset}`, a **synthetic** dataset generated by cmhash-hf (coloured shapes on "
            "textures, with template captions). The numbers show that the method learns; they say nothing about "
            "real photos and free-form captions."
        )
    lines.append(
        f"`{config.model_type}` is implemented in cmhash-hf from the paper's description (and its public reference "
        "code where there is one), not ported from the authors' weights; the method section says where the paper "
        "left room and what we chose."
    )
    towers = {"image": config.image_encoder, "text": config.text_encoder}
    scratch = [modality for modality, spec in towers.items() if not kind_of(spec).pretrained_name(spec)]
    if scratch:
        lines.append(
            f"The {' and '.join(scratch)} tower{'s were' if len(scratch) > 1 else ' was'} trained from scratch on "
            "this one dataset: expect poor codes for pictures or wording far from its training data."
        )
    if "text" in scratch and kind_of(config.text_encoder).encodes_raw_inputs:
        lines.append("The text side knows only the words of its training captions; other words are ignored.")
    lines.append("Hash codes are compared by Hamming distance only; there is no re-ranking.")
    return lines


def _read_json(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def build_model_card(
    config: CrossModalHashConfig,
    *,
    results: Mapping[str, Any] | None = None,
    training_args: Mapping[str, Any] | None = None,
    model_id: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> ModelCard:
    """Render the card of a checkpoint with ``config``.

    Args:
        config: the checkpoint's config (its ``model_type`` names the method).
        results: a ``results.json`` dict of `cmhash_hf.evaluation.evaluate_run` (``model-index`` and the table).
        training_args: the ``training_args.json`` dict of the run.
        model_id: the Hub id or folder the "How to use" snippet loads; a placeholder when None.
        license: the card's license (the library's own, Apache-2.0, by default).
    """
    training_args = dict(training_args or {})
    dataset = public_name(config.dataset_name or training_args.get("dataset"))
    short_dataset = (dataset or "unknown").split(":")[-1].split("/")[-1]
    model_name = (model_id or "").rstrip("/").split("/")[-1] or f"{config.model_type}-{short_dataset}-{config.hash_bits}bit"
    bases = [kind_of(spec).pretrained_name(spec) for spec in (config.image_encoder, config.text_encoder)]
    base_models = [public_name(base) for base in bases if base and not Path(base).exists()]
    card_data = ModelCardData(
        library_name=LIBRARY_NAME,
        license=license,
        tags=["cross-modal-hashing", config.model_type, "image-text-retrieval", "hashing", "binary-codes"],
        datasets=[dataset] if dataset else None,
        base_model=sorted(set(base_models)) or None,
        model_name=model_name,
        eval_results=eval_results(results or {}) or None,
    )
    rows, setting = results_table(results or {})
    doc = _method_module_doc(config.model_type)
    paper, _, rest = doc.partition("\n")
    card = ModelCard.from_template(
        card_data,
        template_path=str(TEMPLATE_PATH),
        marker=CARD_MARKER,
        title=f"{config.model_type.upper()} · {config.hash_bits}-bit codes · {dataset or 'unknown dataset'}",
        summary=(
            f"A cross-modal hashing model: it maps pictures and texts to {config.hash_bits}-bit binary codes, so that "
            "a text finds its pictures (and a picture its texts) by Hamming distance."
        ),
        method=config.model_type,
        paper=paper.strip() or "see the method's documentation",
        method_doc=rest.strip() or "No description was written for this method.",
        method_settings=method_settings(config),
        bits=config.hash_bits,
        code_bytes=(config.hash_bits + 7) // 8,
        dataset_text=f"`{dataset}`" if dataset else "an unrecorded dataset",
        image_tower=_tower_text(config.image_encoder, "image"),
        text_tower=_tower_text(config.text_encoder, "text"),
        results_rows=rows if card_data.eval_results else None,
        results_setting=setting,
        model_id=model_id or "path/or/hub-id",
        training_args=training_rows(training_args),
        limitations=_limitations(config, dataset),
    )
    return card


def is_generated_card(path: str | Path) -> bool:
    """Whether ``path`` is a card this module wrote (so it may be rewritten)."""
    path = Path(path)
    return path.is_file() and CARD_MARKER in path.read_text(encoding="utf-8")


def write_model_card(
    folder: str | Path,
    config: CrossModalHashConfig | None = None,
    *,
    results: Mapping[str, Any] | None = None,
    model_id: str | None = None,
    license: str = DEFAULT_LICENSE,
) -> Path | None:
    """Write ``README.md`` into a checkpoint folder; returns its path, or None when a hand-written card is kept.

    ``config`` defaults to the folder's ``config.json``; ``results`` to its ``results.json`` and the training
    settings come from its ``training_args.json`` (each when present). ``model_id`` defaults to the folder path.
    """
    folder = Path(folder)
    card_path = folder / CARD_FILE
    if card_path.is_file() and not is_generated_card(card_path):
        return None
    if config is None:
        config = load_hash_config(str(folder))
    card = build_model_card(
        config,
        results=results if results is not None else _read_json(folder / RESULTS_FILE),
        training_args=_read_json(folder / TRAINING_ARGS_FILE),
        model_id=model_id or str(folder),
        license=license,
    )
    return atomic_write_text(card_path, str(card))


def load_model_card(model_id_or_path: str | Path, **hub_kwargs: Any) -> ModelCard | None:
    """The ``README.md`` card of a checkpoint folder or Hub repo (through the Hub cache), or None without one."""
    try:
        path = cached_file(str(model_id_or_path), CARD_FILE, **hub_kwargs)
    except OSError:
        return None
    return ModelCard.load(path) if path else None


def card_summary(card: ModelCard) -> str:
    """A few Markdown lines for a page: the card's title, its first paragraph and the evaluated mAP per direction.

    Example:
        >>> card = ModelCard("---\\nlibrary_name: cmhash-hf\\n---\\n<!-- note -->\\n\\n# DCMH\\n\\nMaps pictures.\\n\\n## More")
        >>> print(card_summary(card))
        ### DCMH
        Maps pictures.
    """
    paragraphs = [p.strip() for p in card.text.split("\n\n") if p.strip() and not p.strip().startswith("<!--")]
    title = next((p.lstrip("# ") for p in paragraphs if p.startswith("# ")), None)
    first = next((p for p in paragraphs if not p.startswith("#")), "")
    lines = [f"### {title}"] if title else []
    lines += [first] if first else []
    results = [f"{r.metric_name}: **{r.metric_value:.4f}**" for r in (card.data.eval_results or [])]
    if results:
        lines.append("Evaluated: " + " · ".join(results))
    return "\n".join(lines)
