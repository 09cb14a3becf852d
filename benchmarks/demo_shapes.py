"""One try of the demo's training settings: train, then score overall, on the 12 shape kinds and on the 12 colours.

Runs ``cmhash train --method dcmh --dataset builtin:shapes --bits 32`` with the given extra options (wall-clock
time measured around the training command alone), then ``cmhash evaluate RUN --labels <shape kinds> --labels
<colours>``, and prints one markdown row: overall mAP@all both ways, the shape-kind and colour mAP both ways,
training seconds. The row and the results are also written as JSON under ``benchmarks/results/demo_shapes/``.
The tries of issue 15 and their rows are in ``benchmarks/demo_shapes.md``.

Usage:
    python benchmarks/demo_shapes.py --name base -- --preset cpu --epochs 30
    python benchmarks/demo_shapes.py --name demo -- --preset demo --epochs 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from cmhash_hf.data.shapes import SHAPES_LABEL_NAMES
from cmhash_hf.file_utils import atomic_write_text

SHAPE_KINDS, COLOURS = SHAPES_LABEL_NAMES[:12], SHAPES_LABEL_NAMES[12:]
HEADER = (
    "| try | settings | overall I→T | overall T→I | shapes I→T | shapes T→I | colours I→T | colours T→I | train s |\n"
    "|---|---|---:|---:|---:|---:|---:|---:|---:|"
)


def cmhash(*args: str) -> list[str]:
    return [sys.executable, "-m", "cmhash_hf.cli", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="name of the try (its run folder)")
    parser.add_argument("--output-dir", default="benchmarks/results/demo_shapes")
    parser.add_argument("train_options", nargs="*", help="options of `cmhash train` after --")
    args = parser.parse_args()
    run = Path(args.output_dir) / args.name
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    train = cmhash("train", "--method", "dcmh", "--dataset", "builtin:shapes", "--bits", "32", *args.train_options,
                   "--output-dir", str(run), "--overwrite-output-dir", "--save-total-limit", "1")
    start = time.perf_counter()
    subprocess.run(train, check=True, env=env, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - start
    subprocess.run(cmhash("evaluate", str(run), "--labels", *SHAPE_KINDS, "--labels", *COLOURS), check=True, env=env,
                   stdout=subprocess.DEVNULL)
    results = json.loads((run / "results.json").read_text())
    shapes, colours = results["label_subsets"]
    row = {"try": args.name, "settings": " ".join(args.train_options), "train_seconds": round(seconds, 1),
           **{f"overall_{d}": results[f"map_{d}"] for d in ("i2t", "t2i")},
           **{f"shapes_{d}": shapes[f"map_{d}"] for d in ("i2t", "t2i")},
           **{f"colours_{d}": colours[f"map_{d}"] for d in ("i2t", "t2i")}}
    print(HEADER)
    print(f"| {row['try']} | `{row['settings']}` | " + " | ".join(
        f"{row[f'{group}_{d}']:.3f}" for group in ("overall", "shapes", "colours") for d in ("i2t", "t2i")
    ) + f" | {seconds:.0f} |")
    atomic_write_text(Path(args.output_dir) / f"{args.name}.json", json.dumps(row, indent=2))


if __name__ == "__main__":
    main()
