"""mAP evaluation speed: ``mean_average_precision`` vs a straightforward numpy per-query loop, on two dataset shapes.

Shapes: the classic MIRFlickr-25K protocol (2,000 queries x 18,015 database, 24 labels) and
NUS-WIDE scale (5,000 x 190,000, 21 labels), 64-bit codes. Codes are noisy copies of per-label
prototypes so that the ranking carries signal, with many distance ties. The baseline is the loop
found in public hashing code (Hamming distances by matrix product, argsort, cumulative precision
at the relevant positions), with a stable argsort so that both rank ties in database order and the
numbers must agree. Timings: the library call is timed after a warm-up call (numba JIT), best of
``--repeats``; the baseline once.

Usage:
    python benchmarks/eval_speed.py
    python benchmarks/eval_speed.py --shapes 200x2000 --output /tmp/eval_smoke.json
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numba
import numpy as np

from cmhash_hf.file_utils import atomic_write_text
from cmhash_hf.metrics import mean_average_precision

SHAPES = {"mirflickr25k": (2000, 18015, 24), "nus-wide": (5000, 190000, 21)}


def make_data(n_queries: int, n_database: int, n_labels: int, bits: int, rng: np.random.Generator):
    """Multi-label items (1-3 labels each) with ±1 codes near the prototype of their first label."""
    n = n_queries + n_database
    labels = np.zeros((n, n_labels), dtype=np.float32)
    for extra in range(3):
        chosen = rng.integers(0, n_labels, n)
        keep = rng.random(n) < (1.0 if extra == 0 else 0.4)
        labels[np.flatnonzero(keep), chosen[keep]] = 1
    prototypes = np.where(rng.random((n_labels, bits)) < 0.5, -1, 1)
    base = prototypes[labels.argmax(axis=1)]
    codes = np.where(rng.random((n, bits)) < 0.25, -base, base).astype(np.float32)
    return codes[:n_queries], codes[n_queries:], labels[:n_queries], labels[n_queries:]


def numpy_map(query_codes, database_codes, query_labels, database_labels) -> float:
    """The usual public per-query loop, with a stable argsort."""
    bits = query_codes.shape[1]
    total = 0.0
    for i in range(query_codes.shape[0]):
        relevant = (query_labels[i] @ database_labels.T > 0).astype(np.float64)
        count = relevant.sum()
        if count == 0:
            continue
        hamming = 0.5 * (bits - query_codes[i] @ database_codes.T)
        relevant = relevant[np.argsort(hamming, kind="stable")]
        positions = np.flatnonzero(relevant) + 1.0
        total += np.mean(np.arange(1, count + 1) / positions)
    return total / query_codes.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", nargs="+", default=list(SHAPES), help="names of SHAPES or QxN (e.g. 200x2000)")
    parser.add_argument("--bits", type=int, default=64)
    parser.add_argument("--threads", type=int, default=numba.get_num_threads())
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default="benchmarks/results/eval_speed.json")
    args = parser.parse_args()
    numba.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    rows = []
    for shape in args.shapes:
        if shape in SHAPES:
            n_queries, n_database, n_labels = SHAPES[shape]
        else:
            n_queries, n_database = (int(part) for part in shape.split("x"))
            n_labels = 24
        data = make_data(n_queries, n_database, n_labels, args.bits, rng)
        start = time.perf_counter()
        ours = mean_average_precision(*data)
        first = time.perf_counter() - start
        seconds = first
        for _ in range(args.repeats):
            start = time.perf_counter()
            ours = mean_average_precision(*data)
            seconds = min(seconds, time.perf_counter() - start)
        start = time.perf_counter()
        baseline = numpy_map(*data)
        baseline_seconds = time.perf_counter() - start
        rows.append(
            {
                "shape": shape, "queries": n_queries, "database": n_database, "labels": n_labels, "bits": args.bits,
                "threads": args.threads, "map": ours, "map_numpy_loop": baseline,
                "agree": bool(abs(ours - baseline) <= 1e-12), "seconds": seconds, "first_call_s": first,
                "numpy_loop_seconds": baseline_seconds, "speedup": baseline_seconds / seconds,
            }
        )
    print(f"{'shape':<14} {'queries x database':>20} {'mAP':>10} {'ours s':>8} {'numpy loop s':>13} {'speedup':>8}  check")
    for row in rows:
        print(
            f"{row['shape']:<14} {row['queries']:>9,} x {row['database']:>8,} {row['map']:>10.6f} {row['seconds']:>8.3f} "
            f"{row['numpy_loop_seconds']:>13.2f} {row['speedup']:>8.1f}  {'agree' if row['agree'] else 'DIFFER'}"
        )
    report = {
        "benchmark": "eval_speed",
        "config": {key: value for key, value in vars(args).items() if key != "output"},
        "machine": {"cpu_count": os.cpu_count(), "numba": numba.__version__, "numpy": np.__version__,
                    "load_average_after": os.getloadavg()},
        "results": rows,
    }
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
