"""The served retrieval Space under concurrent users (bounded, on 127.0.0.1), and uploads that are not pictures.

The load test prints latency percentiles (``benchmarks/space_load.py`` prints the table for more users); it
asserts only what must always hold: every request answered in full, none failed.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from hub_runs import free_port, load_app_module, shared_tiny_run

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "space_load.py"
USERS, REQUESTS, K = 6, 36, 6


def load_benchmark():
    spec = importlib.util.spec_from_file_location("space_load_benchmark", BENCHMARK)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def app():
    return load_app_module()


@pytest.fixture(scope="module")
def served(app, tmp_path_factory):
    space = sys.modules["retrieval_space"].RetrievalSpace.load(str(shared_tiny_run(tmp_path_factory)))
    demo = app.build_app(space)
    demo.launch(server_name="127.0.0.1", server_port=free_port(), prevent_thread_lock=True, quiet=True)
    yield demo
    demo.close()


def test_concurrent_users_all_get_complete_answers(served, capsys):
    benchmark = load_benchmark()
    result = benchmark.run_load(served.local_url, users=USERS, queries=REQUESTS, k=K)
    row = benchmark.summary(result)
    with capsys.disabled():
        print(f"\nSpace load test, {USERS} users, {REQUESTS} text → images requests (k={K}) on 127.0.0.1:\n"
              + benchmark.table([row]))
    assert result["errors"] == [] and row["failures"] == 0
    assert len(result["latencies"]) == REQUESTS


def test_the_queue_is_set_deliberately(app, served):
    assert served._queue.default_concurrency_limit == app.CONCURRENCY == 8
    assert served._queue.max_size == app.QUEUE_SIZE == 256


def test_a_file_that_is_not_a_picture_gets_a_message_in_the_page(served, tmp_path):
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("these are words, not pixels")
    client = Client(served.local_url, verbose=False)
    for endpoint in ("/image_to_texts", "/image_to_images"):
        inputs = (handle_file(str(not_a_picture)), 3) + (() if endpoint == "/image_to_texts" else (None,))
        results, status = client.predict(*inputs, api_name=endpoint)
        assert status.startswith("⚠️ notes.png is not a picture this Space can read (cannot identify image file")
        assert status.endswith("): upload a PNG, JPEG, WebP or GIF file.")
        assert not (results["data"] if isinstance(results, dict) else results)
    status = client.predict([handle_file(str(not_a_picture))], api_name="/add_pictures")  # the State stays server-side
    assert status.startswith("⚠️ Added 0 picture(s)") and "Could not read: notes.png" in status
