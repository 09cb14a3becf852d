"""CDHTK ablation on Wiki: the full loss, and without each of its three losses, over two seeds.

The three losses of CDHTK (see `cmhash_hf.methods.cdhtk.modeling_cdhtk`): label prediction
(``classification_weight``), the joint triplet–quantisation loss (``triplet_weight`` and ``quantization_weight``;
the bit-balance term stays, it only keeps codes from collapsing), and the differential loss
(``differential_weight``), and the two terms that carry knowledge across modalities (``agreement_weight``,
``completion_weight``). Each variant sets the named weights to 0 and keeps every other default.

Protocol and training settings are the Wiki benchmark's (`benchmarks/wiki.py`: 693 test queries against the
2,173 training pairs, `WIKI_SETTINGS`), at one code length, with a fixed number of epochs (last epoch) instead of
the per-method choice on validation, to keep the runs short. One more row needs no training: the full
models evaluated with the transfer network's knowledge set to 0 at query and database encoding (the codes are
then tanh(W_s f + b), the modality-specific part alone), which shows how much of the codes the transferred part
carries. The table (mAP@all, mean ± std over seeds) is printed and written to ``benchmarks/cdhtk_ablation.md``;
every row's numbers go to ``<results-dir>/ablation.json``.

Usage:
    python benchmarks/cdhtk_ablation.py --wiki DIR            # DIR from `cmhash data build wiki --source ...`
    python benchmarks/cdhtk_ablation.py --wiki DIR --bits 16 --epochs 5 --seeds 1 --results-dir /tmp/abl
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
from collections.abc import Iterator
from pathlib import Path

import torch

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wiki import WIKI_SETTINGS  # noqa: E402

from cmhash_hf.bench import BenchSettings, run_benchmark  # noqa: E402
from cmhash_hf.evaluation import evaluate_run  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402
from cmhash_hf.methods.cdhtk import TransferNetwork  # noqa: E402

#: variant -> the CDHTK settings it changes (the loss it removes)
VARIANTS = {
    "full": {},
    "without classification": {"classification_weight": 0.0},
    "without triplet-quantisation": {"triplet_weight": 0.0, "quantization_weight": 0.0},
    "without differential": {"differential_weight": 0.0},
    "without agreement and completion": {"agreement_weight": 0.0, "completion_weight": 0.0},
}


@contextlib.contextmanager
def knowledge_zeroed() -> Iterator[None]:
    """While open, every transfer network outputs 0 (so each code is its modality-specific part alone)."""
    forward = TransferNetwork.forward

    def zeros(self, image_features=None, text_features=None):
        return torch.zeros_like(forward(self, image_features, text_features))

    TransferNetwork.forward = zeros
    try:
        yield
    finally:
        TransferNetwork.forward = forward


def _mean_std(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.pstdev(values), "n": len(values)}


def table(rows: list[dict], bits: int, epochs: int, seeds: list[int]) -> str:
    """The markdown table: one row per variant, mAP image→text and text→image as mean ± std over seeds."""
    lines = [
        f"# CDHTK ablation on Wiki ({bits} bits, {epochs} epochs, seeds {seeds})",
        "",
        "mAP@all, mean ± std over seeds; 693 test queries against the 2,173 training pairs; Wiki benchmark settings",
        "(`benchmarks/wiki.py`), last epoch. Produced by `python benchmarks/cdhtk_ablation.py --wiki DIR`.",
        "",
        "| variant | settings changed | image→text | text→image |",
        "|---|---|---|---|",
    ]
    for row in rows:
        cells = [f"{row[d]['mean']:.3f} ± {row[d]['std']:.3f}" for d in ("map_i2t", "map_t2i")]
        changed = ", ".join(f"{k}={v}" for k, v in row["settings"].items()) or "defaults"
        lines.append(f"| {row['variant']} | {changed} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wiki", required=True, help="the built Wiki dataset folder")
    parser.add_argument("--bits", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--results-dir", default="benchmarks/results/cdhtk_ablation")
    parser.add_argument("--markdown", default="benchmarks/cdhtk_ablation.md")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    rows = []
    for variant, changes in VARIANTS.items():
        settings = BenchSettings(
            dataset=args.wiki, output_dir=str(Path(args.results_dir) / variant.replace(" ", "_")), methods=["cdhtk"],
            bits=[args.bits], seeds=seeds, method_kwargs={"cdhtk": changes},
            training_kwargs={**WIKI_SETTINGS["training_kwargs"], "epochs": args.epochs},
        )
        summary = run_benchmark(settings)["summary"][0]
        rows.append({"variant": variant, "settings": changes, "map_i2t": summary["map_i2t"],
                     "map_t2i": summary["map_t2i"]})
        print(f"{variant}: {summary['map_i2t']['mean']:.3f} / {summary['map_t2i']['mean']:.3f}", flush=True)
        if variant == "full":
            full_runs = [Path(settings.output_dir) / "runs" / f"cdhtk-{args.bits}bit-seed{seed}" for seed in seeds]
    with knowledge_zeroed():
        zeroed = [evaluate_run(run, write=False) for run in full_runs]
    rows.append({"variant": "full, transferred knowledge set to 0 when encoding (no retraining)",
                 "settings": {"knowledge": 0},
                 **{key: _mean_std([r[key] for r in zeroed]) for key in ("map_i2t", "map_t2i")}})
    text = table(rows, args.bits, args.epochs, seeds)
    print(text)
    atomic_write_text(Path(args.results_dir) / "ablation.json", json.dumps(rows, indent=2))
    atomic_write_text(Path(args.markdown), text + "\n")


if __name__ == "__main__":
    main()
