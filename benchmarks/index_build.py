"""Index building and opening: ``cmhash index`` items/s with 1 and 2 processes, and the time to open a big collection.

1. A small DCMH model is trained for one epoch (on a few items: the speed of encoding does not depend on how good
   the model is) on a ``builtin:shapes`` dataset of ``--items`` pictures, then ``cmhash index`` encodes its
   ``database`` split (all items but the 400 queries) — once as one process, once under ``torchrun`` with two CPU
   processes (``ACCELERATE_USE_CPU=true``). Items/s is items over the wall time of the command, start-up included.
2. A collection of ``--open-items`` random 64-bit codes with metadata (a file path and a caption per item) is
   written with the exact backend; the time to open it (`Collection.load`: codes file read and checked, metadata
   memory-mapped) and of a first search is reported.

Usage:
    python benchmarks/index_build.py                                        # 20,000 items; 10M-item open
    python benchmarks/index_build.py --items 3000 --open-items 100000 --output /tmp/index_smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from cmhash_hf.file_utils import atomic_write_text
from cmhash_hf.retrieval.collection import Collection, CollectionWriter
from cmhash_hf.training import HashTrainingArguments, train


def timed_command(argv: list[str], env: dict[str, str]) -> float:
    """Seconds a command takes; its failure stops the benchmark with its error output."""
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(argv[:6])} ... failed:\n{done.stderr[-3000:]}")
    return seconds


def index_speed(args: argparse.Namespace, scratch: Path) -> list[dict]:
    run = scratch / "run"
    train(HashTrainingArguments(method="dcmh", output_dir=str(run), bits=64, epochs=1, max_train_samples=64,
                                batch_size=32, dataset_kwargs={"num_items": args.items}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1", "ACCELERATE_USE_CPU": "true"}
    common = ["index", str(run), "--split", "database", "--batch-size", str(args.batch_size), "--shard-size",
              str(args.shard_size), "--num-workers", str(args.num_workers)]
    rows = []
    for processes in args.processes:
        output = scratch / f"index-{processes}"
        if processes == 1:
            argv = [sys.executable, "-m", "cmhash_hf.cli", *common, "--output", str(output)]
        else:
            argv = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", str(processes),
                    "-m", "cmhash_hf.cli", *common, "--output", str(output)]
        seconds = timed_command(argv, env)
        items = json.loads((output / "collection.json").read_text())["num_items"]
        rows.append({"processes": processes, "items": items, "seconds": seconds, "items_per_s": items / seconds})
        print(f"cmhash index, {processes} process(es): {items:,} items in {seconds:.1f} s = {items / seconds:,.0f} "
              "items/s", flush=True)
    return rows


def open_time(args: argparse.Namespace, scratch: Path) -> dict:
    folder = scratch / "big"
    rng = np.random.default_rng(0)
    writer = CollectionWriter(folder, 64, sides=("image",), info={"source": "images", "root": "/photos"})
    step = 1_000_000
    start = time.perf_counter()
    for first in range(0, args.open_items, step):
        n = min(step, args.open_items - first)
        codes = rng.integers(0, 256, (n, 8), dtype=np.uint8)
        names = [f"2026/{i % 365:03d}/photo-{i:08d}.jpg" for i in range(first, first + n)]
        writer.add(image_codes=codes, paths=names, texts=[f"photo {i}" for i in range(first, first + n)])
    writer.finish()
    write_s = time.perf_counter() - start
    start = time.perf_counter()
    collection = Collection.load(folder)
    open_s = time.perf_counter() - start
    start = time.perf_counter()
    hits = collection.search_images(rng.integers(0, 256, (1, 8), dtype=np.uint8), 10)
    search_s = time.perf_counter() - start
    assert len(collection) == args.open_items and len(hits) == 10
    size = sum(p.stat().st_size for p in folder.iterdir())
    row = {"items": args.open_items, "write_s": write_s, "open_s": open_s, "first_search_s": search_s,
           "folder_bytes": size}
    print(f"collection of {args.open_items:,} items ({size / 1e6:,.0f} MB): written in {write_s:.1f} s, opened in "
          f"{open_s:.2f} s, first search (k=10) {search_s:.2f} s", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="builtin:shapes items (400 of them are queries)")
    parser.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--shard-size", type=int, default=2_000)
    parser.add_argument("--num-workers", type=int, default=0)
    parser.add_argument("--open-items", type=int, default=10_000_000, help="items of the collection opened (0 to skip)")
    parser.add_argument("--scratch", default=None, help="folder for temporary runs and collections")
    parser.add_argument("--output", default="benchmarks/results/index_build.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder:
        scratch = Path(folder)
        speed = index_speed(args, scratch) if args.items else []
        opening = open_time(args, scratch) if args.open_items else None
    report = {
        "benchmark": "index_build",
        "config": {key: value for key, value in vars(args).items() if key != "output"},
        "machine": {"processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
                    "load_average_after": os.getloadavg()},
        "index_speed": speed,
        "open": opening,
    }
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
