"""Two CPU processes (`torchrun` with ``ACCELERATE_USE_CPU=true``, gloo) train through ``cmhash train`` with
encoders from a folder: DCMH (alternating image / text steps) and GANCMH (generator / discriminator steps switch
which parameters train) for one epoch, save once, then resume for a second epoch.

Fresh interpreters rather than Accelerate's fork-based `debug_launcher`: a forked child of a test worker that
has already run OpenMP / numba kernels can deadlock.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from cmhash_hf import CrossModalHashModel
from pretrained_folders import save_tiny_clip

SRC = Path(__file__).resolve().parents[1] / "src"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _torchrun(*argv: str) -> None:
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1",
           "HF_HUB_OFFLINE": "1", "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
               "--master_port", str(_free_port()), "-m", "cmhash_hf.cli", "train", *argv]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("method", ["dcmh", "gancmh"])
def test_two_processes_train_save_once_and_resume(method, tmp_path):
    clip = save_tiny_clip(tmp_path / "clip")
    run = tmp_path / "run"
    options = ["--method", method, "--encoders", str(clip), "--bits", "8", "--max-train-samples", "32",
               "--batch-size", "8", "--save-steps", "1", "--feature-cache-dir", str(tmp_path / "cache"),
               "--output-dir", str(run)]
    _torchrun(*options, "--epochs", "1")
    results = json.loads((run / "train_results.json").read_text())
    passes = 2 if method == "dcmh" else 1  # DCMH: an image pass, then a text pass
    assert results["global_step"] == passes * 2  # 32 items / (8 per batch × 2 processes) = 2 batches per pass
    assert len((run / "train_log.jsonl").read_text().splitlines()) == passes * 2  # written once, by one process
    assert (run / "checkpoints" / "epoch-1" / "trainer_state.json").is_file()
    _torchrun(*options, "--epochs", "2", "--resume")
    assert json.loads((run / "train_results.json").read_text())["global_step"] == passes * 4
    assert len((run / "train_log.jsonl").read_text().splitlines()) == passes * 4
    model = CrossModalHashModel.from_pretrained(run)
    assert model.config.image_encoder["config"]["model_type"] == "clip_vision_model"
