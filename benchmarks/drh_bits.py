"""DRH's bits on Wiki: constant bits and redundancy between bits, with boosting on and off, beside mAP.

For each variant (DRH's defaults, and the same with boosting off, ``boosting_groups=1``) and seed, a DRH model is
trained with the Wiki benchmark's protocol and training settings (`benchmarks/wiki.py`: the classic split, 693
test queries against the 2,173 training pairs, `WIKI_SETTINGS`) for a fixed number of epochs (last epoch), and
the training set is encoded by the model. Per modality (image codes, text codes of the 2,173 training items):

- **constant bits**: bits that take one value on every training item;
- **mean |corr|**: the mean absolute Pearson correlation between two different bits over the training items
  (off-diagonal entries of the bit correlation matrix; constant bits have no correlation and are left out);
- **between groups**: the same over the pairs of bits that lie in different groups of DRH's default boosting
  grouping (4 contiguous groups; with boosting off the same bit positions), the redundancy boosting is meant
  to reduce;

and the test mAP (image→text, text→image). Numbers are means over seeds. The table is printed and every run's
numbers go to ``<results-dir>/drh_bits.json``. ``--label`` names the code version measured (the script only uses
the public API, so it runs against an older ``src`` too: ``PYTHONPATH=<old>/src``); ``--set KEY=VALUE`` changes
a DRH setting in every variant (the value is read as JSON, else kept as a string).

Usage:
    python benchmarks/drh_bits.py --wiki DIR          # DIR from `cmhash data build wiki --source ../shared/data/wiki`
    python benchmarks/drh_bits.py --wiki DIR --bits 16 --epochs 5 --seeds 1 --results-dir /tmp/drh-bits
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TQDM_DISABLE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from wiki import WIKI_SETTINGS  # noqa: E402

from cmhash_hf.bench import BenchSettings, run_benchmark  # noqa: E402
from cmhash_hf.encoding import encode_dataset  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402
from cmhash_hf.runs import load_run, run_data  # noqa: E402

#: variant -> the DRH settings it changes
VARIANTS = {"boosting on": {}, "boosting off": {"boosting_groups": 1}}
MODALITIES = ("image", "text")
#: DRH's default number of boosting groups: the grouping the between-group correlation is measured over
GROUPS = 4


def bit_statistics(codes: np.ndarray, groups: int = GROUPS) -> dict[str, float]:
    """Constant bits, and the mean absolute correlation between different non-constant bits of (N, K) ±1 codes:
    over all pairs of bits, and over the pairs whose bits lie in different groups of the default boosting
    grouping (``groups`` contiguous groups, as `drh_pair_loss` splits them; the same grouping with boosting off).

    Example:
        >>> codes = np.array([[1, 1, -1, 1], [1, -1, 1, 1], [-1, 1, -1, 1], [-1, -1, 1, 1]])
        >>> bit_statistics(codes, groups=2)  # bit 3 constant; bits 0, 1 uncorrelated, bit 2 = −bit 1
        {'constant_bits': 1, 'mean_abs_corr': 0.3333, 'mean_abs_corr_between_groups': 0.5}
    """
    codes = codes.astype(np.float64)
    bits = codes.shape[1]
    varying = codes.std(axis=0) > 0
    centred = codes - codes.mean(axis=0)
    norms = np.where(varying, np.linalg.norm(centred, axis=0), np.nan)
    corr = np.abs(centred.T @ centred / np.outer(norms, norms))
    group_of = np.concatenate([np.full(len(part), g) for g, part in enumerate(np.array_split(np.arange(bits), groups))])
    different = ~np.eye(bits, dtype=bool)
    between = group_of[:, None] != group_of[None, :]
    return {
        "constant_bits": int((~varying).sum()),
        "mean_abs_corr": round(float(np.nanmean(corr[different])), 4) if varying.sum() > 1 else float("nan"),
        "mean_abs_corr_between_groups": round(float(np.nanmean(corr[between])), 4) if varying.sum() > 1 else float("nan"),
    }


def train_codes(run_dir: Path) -> dict[str, np.ndarray]:
    """The ±1 codes of the run's training items, per modality, encoded by the trained model."""
    run = load_run(run_dir)
    chosen = run_data(run_dir, run.training_args)
    codes = encode_dataset(run.model, run.processor, chosen.data, chosen.split.train, description="encoding train")
    return {"image": codes.image, "text": codes.text}


def table(rows: list[dict], label: str, bits: int, epochs: int, seeds: list[int]) -> str:
    """The markdown table: one row per variant, means over seeds."""
    lines = [
        f"DRH on Wiki ({label}; {bits} bits, {epochs} epochs, seeds {seeds}; training-set codes; test mAP)",
        "",
        "| variant | constant bits image / text | mean abs corr image / text | between groups image / text "
        "| mAP image→text | mAP text→image |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        constant = " / ".join(f"{row[f'constant_bits_{m}']:g}" for m in MODALITIES)
        corr = " / ".join(f"{row[f'mean_abs_corr_{m}']:.3f}" for m in MODALITIES)
        between = " / ".join(f"{row[f'mean_abs_corr_between_groups_{m}']:.3f}" for m in MODALITIES)
        lines.append(f"| {row['variant']} | {constant} | {corr} | {between} | {row['map_i2t']:.3f} "
                     f"| {row['map_t2i']:.3f} |")
    return "\n".join(lines)


def _setting(text: str) -> tuple[str, object]:
    key, _, value = text.partition("=")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wiki", required=True, help="the built Wiki dataset folder")
    parser.add_argument("--bits", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=100, help="the number the Wiki benchmark chose for DRH")
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--label", default="current code", help="the code version measured, for the table")
    parser.add_argument("--set", dest="overrides", type=_setting, nargs="*", default=[], metavar="KEY=VALUE",
                        help="a DRH setting changed in every variant")
    parser.add_argument("--results-dir", default="benchmarks/results/drh_bits")
    args = parser.parse_args()
    seeds = list(range(args.seeds))
    overrides = dict(args.overrides)
    root = Path(args.results_dir)
    rows = []
    for variant, changes in VARIANTS.items():
        method_kwargs = {**overrides, **changes}
        output_dir = root / variant.replace(" ", "_")
        settings = BenchSettings(
            dataset=args.wiki, output_dir=str(output_dir), methods=["drh"], bits=[args.bits], seeds=seeds,
            method_kwargs={"drh": method_kwargs},
            training_kwargs={**WIKI_SETTINGS["training_kwargs"], "epochs": args.epochs},
        )
        report = run_benchmark(settings)
        runs = []
        for run in report["runs"]:
            codes = train_codes(output_dir / "runs" / f"drh-{args.bits}bit-seed{run['seed']}")
            stats = {f"{name}_{m}": value for m in MODALITIES for name, value in bit_statistics(codes[m]).items()}
            runs.append({"seed": run["seed"], "map_i2t": run["map_i2t"], "map_t2i": run["map_t2i"], **stats})
        row = {"variant": variant, "settings": method_kwargs, "runs": runs,
               **{key: float(np.mean([r[key] for r in runs])) for key in runs[0] if key != "seed"}}
        rows.append(row)
        print(f"{variant}: {json.dumps({k: v for k, v in row.items() if k != 'runs'})}", flush=True)
    print(table(rows, args.label, args.bits, args.epochs, seeds))
    atomic_write_text(root / "drh_bits.json", json.dumps(
        {"label": args.label, "bits": args.bits, "epochs": args.epochs, "seeds": seeds, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
