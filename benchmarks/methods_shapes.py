"""Every registered method on builtin:shapes (synthetic) at 16 and 32 bits with the CPU preset: one table.

Each (method, bits) is trained and evaluated with `cmhash_hf.bench` (classic split: 400 queries, 2,000 training
items, 2,600 database items; last-epoch checkpoint; seed 0). The table holds mAP@all image→text and text→image,
the chance level, train time and training throughput (image–text pairs per second, every training step counted
once per pair); it is printed and written as JSON and markdown.

Usage:
    python benchmarks/methods_shapes.py                        # all methods, 16 and 32 bits, 30 epochs (~25 min)
    python benchmarks/methods_shapes.py --methods dcmh --bits 16 --epochs 2 --output-dir /tmp/shapes-smoke
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

from cmhash_hf.bench import BenchSettings, run_benchmark  # noqa: E402
from cmhash_hf.file_utils import atomic_write_text  # noqa: E402


def table(report: dict) -> str:
    lines = [
        "| method | bits | mAP I→T | mAP T→I | chance | train s | images/s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for run in report["runs"]:
        lines.append(
            f"| {run['method']} | {run['bits']} | {run['map_i2t']:.3f} | {run['map_t2i']:.3f} | {run['chance']:.3f} "
            f"| {run['train_seconds']:.0f} | {run['train_items_per_second']:.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["all"])
    parser.add_argument("--bits", type=int, nargs="+", default=[16, 32])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--output-dir", default="benchmarks/results/methods_shapes")
    args = parser.parse_args()
    settings = BenchSettings(dataset="builtin:shapes", output_dir=args.output_dir, methods=args.methods, bits=args.bits,
                             seeds=[0], training_kwargs={"epochs": args.epochs, "preset": "cpu"})
    report = run_benchmark(settings)
    text = table(report)
    print(text)
    atomic_write_text(Path(args.output_dir) / "methods_shapes.md", text + "\n")
    atomic_write_text(Path(args.output_dir) / "methods_shapes.json", json.dumps(report["runs"], indent=2))


if __name__ == "__main__":
    main()
