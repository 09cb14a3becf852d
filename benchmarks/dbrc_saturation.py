"""How saturated DBRC's codes are after training on Wiki, for several weights of its saturation penalty.

DBRC's shared binary layer ends in an adaptive tanh (`cmhash_hf.methods.dbrc.modeling_dbrc`); the saturation
penalty (weight ``saturation_weight``) should push its outputs u towards ±1. For each weight this trains DBRC on
Wiki and reports, over the 2,173 training pairs: the mean |u| of the shared layer's continuous outputs for the
images and for the texts (the model's ``image_embeds`` / ``text_embeds``, i.e. the tanh outputs before the
sign), the share of entries with |u| > 0.9, the number of distinct codes and of bits constant over the training
set (a penalty met by collapsing every item onto a few codes shows there), and the mean scale α of the adaptive
tanh; then mAP@all on the Wiki
test protocol (693 test queries against the 2,173 training pairs, as `cmhash_hf.bench` evaluates).

Training settings are the Wiki benchmark's (`benchmarks/wiki.py`, ``WIKI_SETTINGS``) at one code length and one
seed, with a fixed number of epochs (last epoch). The code measured is whatever ``cmhash_hf`` imports, so the same
script measures an older checkout (``PYTHONPATH=OLD/src``, with ``--label before``); it reads α as
``binary_layer.activation.alpha`` (a parameter in old code, the softplus of ``raw_alpha`` now). Each label's runs
go to ``<results-dir>/<label>-<epochs>ep-seed<seed>.json``; the markdown table gathers every file found there and
is printed and written to ``benchmarks/dbrc_saturation.md``.

Usage:
    python benchmarks/dbrc_saturation.py --wiki DIR --weights 0 1 3 10     # DIR: `cmhash data build wiki`; 40 epochs
    python benchmarks/dbrc_saturation.py --wiki DIR --weights 10 --unnormalized   # label scales-unnormalized
    PYTHONPATH=OLD/src python benchmarks/dbrc_saturation.py --wiki DIR --epochs 10 --weights 0 1 10 --label before
    python benchmarks/dbrc_saturation.py --wiki DIR --weights 1 --epochs 5 --results-dir /tmp/sat   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from wiki import WIKI_SETTINGS  # noqa: E402

import cmhash_hf  # noqa: E402
from cmhash_hf.bench import BenchSettings, run_benchmark  # noqa: E402
from cmhash_hf.data import CrossModalCollator, IndexedRows  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402
from cmhash_hf.runs import load_run, run_data  # noqa: E402

WEIGHTS = [0.0, 1.0, 10.0]
#: |u| above this counts as saturated in the table's "share" columns.
SATURATED = 0.9


def code_version() -> str:
    """The git commit of the ``cmhash_hf`` that is imported (``unknown`` outside a git checkout)."""
    folder = Path(cmhash_hf.__file__).resolve().parent
    try:
        found = subprocess.run(["git", "-C", str(folder), "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return found.stdout.strip()


def shared_outputs(run_dir: Path, batch_size: int = 256) -> dict[str, float]:
    """Per modality, over the run's training set: mean |u| and share of |u| > `SATURATED` of the shared layer's
    outputs u, the number of distinct codes sign(u) and of bits constant over the set; and the mean α."""
    run = load_run(run_dir)
    chosen = run_data(run_dir, run.training_args)
    rows = chosen.data.select(chosen.split.train)
    collator = CrossModalCollator(run.processor, chosen.data.num_labels, chosen.data.labels_are_indices)
    loader = DataLoader(IndexedRows(rows, collator.columns, row_ids=chosen.split.train), batch_size=batch_size,
                        collate_fn=collator)
    model = run.model.eval()
    outputs: dict[str, list[torch.Tensor]] = {"image": [], "text": []}
    with torch.inference_mode():
        for batch in loader:
            batch.pop("labels", None)
            out = model(**batch, return_loss=False)
            outputs["image"].append(out.image_embeds)
            outputs["text"].append(out.text_embeds)
    measured: dict[str, float] = {"num_items": len(chosen.split.train)}
    for modality, parts in outputs.items():
        magnitude = torch.cat(parts).abs()
        measured[f"mean_abs_u_{modality}"] = round(float(magnitude.mean()), 4)
        measured[f"saturated_share_{modality}"] = round(float((magnitude > SATURATED).float().mean()), 4)
        signs = torch.cat(parts) > 0  # the codes (ties at u = 0 count as -1, as `binarize` does)
        measured[f"distinct_codes_{modality}"] = int(torch.unique(signs, dim=0).shape[0])
        measured[f"constant_bits_{modality}"] = int((signs.all(0) | ~signs.any(0)).sum())
    measured["mean_alpha"] = round(float(model.binary_layer.activation.alpha.detach().mean()), 4)
    return measured


def table(reports: list[dict]) -> str:
    """The markdown table: one row per (code version, epochs, saturation weight)."""
    first = reports[0]["settings"]
    lines = [
        f"# DBRC: saturation of the shared layer on Wiki ({first['bits']} bits)",
        "",
        "Mean |u| (and share of |u| > 0.9) of the shared binary layer's continuous outputs over the 2,173 training",
        "pairs, mean α of the adaptive tanh, the number of distinct codes and of constant bits over those pairs, and",
        f"mAP@all (693 test queries against the 2,173 training pairs; chance {reports[0]['runs'][0]['chance']:.3f}); Wiki",
        "benchmark settings (`benchmarks/wiki.py`), last epoch. Produced by",
        "`python benchmarks/dbrc_saturation.py --wiki DIR --label LABEL --epochs N --weights W...` (one file per",
        "label, number of epochs and seed in the results folder; the table gathers them all), for older code with",
        "`PYTHONPATH=OLD/src`. Labels: *before* is the mean(1/α²) penalty on α; *outputs* the penalty on the",
        "shared layer's outputs (its gradient reaching every layer); *centred-outputs* the same with each",
        "modality's pre-activations centred; *scales* the default since issue 13: the penalty on the tanh of the",
        "detached, batch-normalised pre-activations, so it grows α alone (α from 0.1, at its own learning rate);",
        "*scales-unnormalized* the same without the normalisation (`normalize_pre_activations=False`).",
        "",
        "| code | epochs | seed | saturation_weight | mean abs(u) image | mean abs(u) text | share > 0.9 image / text "
        "| mean α | distinct codes image / text | constant bits image / text | image→text | text→image |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        for run in sorted(report["runs"], key=lambda run: run["saturation_weight"]):
            lines.append(
                f"| {report['label']} ({report['code']}) | {report['settings']['epochs']} | {report['settings']['seed']} "
                f"| {run['saturation_weight']:g} "
                f"| {run['mean_abs_u_image']:.3f} | {run['mean_abs_u_text']:.3f} "
                f"| {run['saturated_share_image']:.2f} / {run['saturated_share_text']:.2f} | {run['mean_alpha']:.3f} "
                f"| {run['distinct_codes_image']} / {run['distinct_codes_text']} "
                f"| {run['constant_bits_image']} / {run['constant_bits_text']} | {run['map_i2t']:.3f} | {run['map_t2i']:.3f} |"
            )
    return "\n".join(lines)


#: Row groups in the table, in this order (other labels after them, alphabetically).
LABEL_ORDER = ["before", "outputs", "centred-outputs", "scales", "scales-unnormalized"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wiki", required=True, help="the built Wiki dataset folder")
    parser.add_argument("--label", default=None, help="name of the code measured (a row group of the table; "
                        "default: scales, or scales-unnormalized with --unnormalized)")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--weights", type=float, nargs="+", default=WEIGHTS, help="values of saturation_weight")
    parser.add_argument("--unnormalized", action="store_true",
                        help="train with normalize_pre_activations=False (no normalisation before the adaptive tanh)")
    parser.add_argument("--results-dir", default="benchmarks/results/dbrc_saturation")
    parser.add_argument("--markdown", default="benchmarks/dbrc_saturation.md")
    args = parser.parse_args()
    if args.label is None:
        args.label = "scales-unnormalized" if args.unnormalized else "scales"
    root = Path(args.results_dir)
    runs = []
    for weight in args.weights:
        output_dir = root / args.label / f"{args.epochs}ep-seed{args.seed}-weight{weight:g}"
        settings = BenchSettings(
            dataset=args.wiki, output_dir=str(output_dir), methods=["dbrc"], bits=[args.bits], seeds=[args.seed],
            method_kwargs={"dbrc": {"saturation_weight": weight,
                                    **({"normalize_pre_activations": False} if args.unnormalized else {})}},
            training_kwargs={**WIKI_SETTINGS["training_kwargs"], "epochs": args.epochs},
        )
        result = run_benchmark(settings)["runs"][0]
        measured = shared_outputs(output_dir / "runs" / f"dbrc-{args.bits}bit-seed{args.seed}")
        runs.append({"saturation_weight": weight, **measured, "map_i2t": result["map_i2t"],
                     "map_t2i": result["map_t2i"], "chance": result["chance"], "train_seconds": result["train_seconds"]})
        print(f"{args.label} weight {weight:g}: {runs[-1]}", flush=True)
    report = {"label": args.label, "code": code_version(), "cmhash_hf": str(Path(cmhash_hf.__file__).parent),
              "settings": {"bits": args.bits, "epochs": args.epochs, "seed": args.seed,
                           "training_kwargs": WIKI_SETTINGS["training_kwargs"]},
              "runs": runs}
    atomic_write_text(root / f"{args.label}-{args.epochs}ep-seed{args.seed}.json", json.dumps(report, indent=2))
    reports = [json.loads(p.read_text()) for p in sorted(root.glob("*.json"))]
    order = {label: position for position, label in enumerate(LABEL_ORDER)}
    reports.sort(key=lambda r: (order.get(r["label"], len(order)), r["label"], r["settings"]["epochs"],
                                r["settings"]["seed"]))
    text = table(reports)
    print(text)
    atomic_write_text(Path(args.markdown), text + "\n")


if __name__ == "__main__":
    main()
