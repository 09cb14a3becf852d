"""Helpers of the Hub and Space tests: a tiny DCMH run trained in seconds, its index, the Space's app module."""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
from pathlib import Path
from types import ModuleType

import pytest
from filelock import FileLock

from cmhash_hf.cli import main

SPACE = Path(__file__).resolve().parents[1] / "spaces" / "retrieval"

TINY_TRAIN = ["train", "--method", "dcmh", "--dataset", "builtin:shapes", "--preset", "tiny", "--bits", "16",
              "--epochs", "2", "--max-train-samples", "128", "--batch-size", "64"]


def train_tiny_run(folder: Path) -> Path:
    """Train a 16-bit DCMH run on builtin:shapes into ``folder`` (a few seconds on a CPU) and return it."""
    assert main([*TINY_TRAIN, "--output-dir", str(folder)]) == 0
    return folder


def index_query_split(run: Path, output: Path) -> Path:
    """Index the 400 query pairs of the run's split (quicker than the 2,600-item database) into ``output``."""
    assert main(["index", str(run), "--split", "query", "--output", str(output)]) == 0
    return output


def shared_tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One tiny run with its query-split index in ``index/``, trained once per test session, even across
    pytest-xdist workers (they share the parent of their temporary folders; a file lock makes one train).

    Treat it as read-only; `copy_of_shared_run` gives a folder a test module may change.
    """
    root = tmp_path_factory.getbasetemp()
    root = root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root
    run = root / "shared-tiny-run" / "dcmh16"
    with FileLock(str(root / "shared-tiny-run.lock")):
        if not (run / "index" / "collection.json").is_file():
            shutil.rmtree(run, ignore_errors=True)
            index_query_split(train_tiny_run(run), run / "index")
    return run


def copy_of_shared_run(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A private copy (without the epoch checkpoints) of `shared_tiny_run`."""
    return Path(shutil.copytree(shared_tiny_run(tmp_path_factory), tmp_path_factory.mktemp(name) / "dcmh16",
                                ignore=shutil.ignore_patterns("checkpoints")))


def load_app_module() -> ModuleType:
    """spaces/retrieval/app.py as a module (it puts its own folder on sys.path for ``retrieval_space``)."""
    spec = importlib.util.spec_from_file_location("retrieval_space_app", SPACE / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
