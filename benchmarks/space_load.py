"""Load test of the retrieval Space: many users send text → images queries at once; latency and failures.

The Space is started as its own process on 127.0.0.1, as it is served (``--url`` points at a running one
instead); the suite's bounded test starts it in-process. Each user is a thread
with its own `gradio_client.Client` that sends its queries one after another and downloads every result picture,
as a browser does; a request fails when it raises (connection closed early, a picture cut short, an error
answer) or returns fewer pictures than asked. Latency is the time of ``predict`` including the downloads.
The suite runs a small bounded version of this (tests/test_space_load.py); this script prints the table for
more users and writes JSON.

Usage:
    python benchmarks/space_load.py --model runs/demo-dcmh32 --index runs/demo-dcmh32/index
    python benchmarks/space_load.py --model RUN --users 1 8 16 --queries 200 --app /path/to/other/app.py
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from cmhash_hf.file_utils import atomic_write_text

SPACE_APP = Path(__file__).resolve().parents[1] / "spaces" / "retrieval" / "app.py"
QUERIES = ["a red circle", "a blue star and a yellow square", "a green triangle", "two shapes on stripes",
           "a purple heart", "an orange crescent on dots", "a small yellow square", "a big blue circle"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_space(app: str, model: str, index: str | None, timeout: float = 300.0) -> tuple[subprocess.Popen, str]:
    """Serve the Space ``app`` in a child process on a free port; return the process and its URL once it answers."""
    port = free_port()
    command = [sys.executable, app, "--model", model, "--port", str(port), *(["--index", index] if index else [])]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"The Space exited with status {server.returncode}: run {' '.join(command)} to see why")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=5):
                return server, url
        except OSError:
            time.sleep(0.5)
    server.terminate()
    raise TimeoutError(f"The Space did not answer at {url} within {timeout:.0f} s")


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation, as numpy's default.

    Example:
        >>> percentile([1.0, 2.0, 3.0, 4.0], 50), percentile([1.0, 2.0, 3.0, 4.0], 90)
        (2.5, 3.7)
    """
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return round(ordered[low] + (ordered[high] - ordered[low]) * (position - low), 10)


def run_load(url: str, users: int, queries: int, k: int = 8, timeout: float = 120.0) -> dict[str, Any]:
    """``users`` threads share ``queries`` text → images requests against the Space at ``url``.

    Returns the number of requests, failures (with the first few errors), latencies in seconds and wall time.
    """
    from gradio_client import Client

    clients = [Client(url, verbose=False, httpx_kwargs={"timeout": timeout}) for _ in range(users)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    counter = iter(range(queries))

    def user(client: Client) -> None:
        while True:
            with lock:
                number = next(counter, None)
            if number is None:
                return
            text = QUERIES[number % len(QUERIES)]
            started = time.perf_counter()
            try:
                gallery, _status = client.predict(text, k, api_name="/text_to_images")
                if len(gallery) != k:
                    raise RuntimeError(f"{len(gallery)} pictures for k={k}")
                empty = [item["image"] for item in gallery if Path(item["image"]).stat().st_size == 0]
                if empty:
                    raise RuntimeError(f"{len(empty)} result picture(s) arrived empty")
            except Exception as err:  # noqa: BLE001 - every failure a user would see counts
                with lock:
                    errors.append(f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=user, args=(client,)) for client in clients]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for client in clients:
        client.close()
    return {"users": users, "requests": queries, "failures": len(errors), "errors": errors[:5],
            "latencies": latencies, "wall_seconds": wall}


def summary(result: dict[str, Any]) -> dict[str, Any]:
    """Failures, failure rate, p50/p90/p99 latency (ms) and requests per second of a `run_load` result."""
    latencies = result["latencies"] or [float("nan")]
    return {
        "users": result["users"],
        "requests": result["requests"],
        "failures": result["failures"],
        "failure_rate": result["failures"] / result["requests"],
        "p50_ms": 1000 * percentile(latencies, 50),
        "p90_ms": 1000 * percentile(latencies, 90),
        "p99_ms": 1000 * percentile(latencies, 99),
        "mean_ms": 1000 * statistics.fmean(latencies),
        "requests_per_second": len(result["latencies"]) / result["wall_seconds"],
    }


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| users | requests | failures | p50 ms | p90 ms | p99 ms | requests/s |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['users']} | {r['requests']} | {r['failures']} ({100 * r['failure_rate']:.1f} %) | "
                     f"{r['p50_ms']:.0f} | {r['p90_ms']:.0f} | {r['p99_ms']:.0f} | {r['requests_per_second']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="run folder or Hub id served by the Space (not needed with --url)")
    parser.add_argument("--index", default=None, help="collection folder (default: the model's index/)")
    parser.add_argument("--url", default=None, help="a running Space to load instead of starting one")
    parser.add_argument("--app", default=str(SPACE_APP), help="the Space's app.py (to compare another version)")
    parser.add_argument("--users", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--queries", type=int, default=200, help="requests per row of the table")
    parser.add_argument("-k", type=int, default=8, help="pictures per answer")
    parser.add_argument("--output", default="benchmarks/results/space_load.json")
    args = parser.parse_args()
    server = None
    url = args.url
    if url is None:
        if not args.model:
            parser.error("pass --model RUN (or --url of a running Space)")
        server, url = start_space(args.app, args.model, args.index)
    rows = []
    try:
        run_load(url, 1, 3, args.k)  # warm-up: first encodings, picture files
        for users in args.users:
            result = run_load(url, users, args.queries, args.k)
            rows.append(summary(result))
            if result["errors"]:
                print(f"{users} users, first errors: {result['errors']}", file=sys.stderr)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(table(rows))
    report = {"app": args.app, "model": args.model, "k": args.k, "rows": rows, "cpu_count": os.cpu_count(),
              "omp_num_threads": os.environ.get("OMP_NUM_THREADS"), "platform": platform.platform()}
    atomic_write_text(args.output, json.dumps(report, indent=2) + "\n")
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    main()
