"""Two CPU processes (Accelerate's `debug_launcher`, gloo) train with encoders from a folder: DCMH (alternating
image / text steps) and GANCMH (generator / discriminator steps switch which parameters train) for one epoch,
save once, then resume for a second epoch."""

from __future__ import annotations

import functools
import json

import pytest
from accelerate import debug_launcher
from accelerate.state import AcceleratorState

from cmhash_hf import CrossModalHashModel
from cmhash_hf.training import HashTrainingArguments, train
from pretrained_folders import save_tiny_clip


def _train(output_dir: str, clip: str, method: str, epochs: int, resume: bool) -> None:
    AcceleratorState._reset_state(reset_partial_state=True)  # the forked child must not inherit a 1-process state
    train(HashTrainingArguments(method=method, output_dir=output_dir, encoders=clip, bits=8, max_train_samples=32,
                                batch_size=8, epochs=epochs, resume=resume, overwrite_output_dir=not resume,
                                save_steps=1))


@pytest.mark.parametrize("method", ["dcmh", "gancmh"])
def test_two_processes_train_save_once_and_resume(method, tmp_path):
    clip = str(save_tiny_clip(tmp_path / "clip"))
    run = tmp_path / "run"
    debug_launcher(functools.partial(_train, str(run), clip, method, 1, False), num_processes=2)
    results = json.loads((run / "train_results.json").read_text())
    passes = 2 if method == "dcmh" else 1  # DCMH: an image pass, then a text pass
    assert results["global_step"] == passes * 2  # 32 items / (8 per batch × 2 processes) = 2 batches per pass
    assert results["train_items_per_second"] > 0
    log = (run / "train_log.jsonl").read_text().splitlines()
    assert len(log) == passes * 2  # written once (by the main process), not once per process
    assert (run / "checkpoints" / "epoch-1" / "trainer_state.json").is_file()
    debug_launcher(functools.partial(_train, str(run), clip, method, 2, True), num_processes=2)
    assert json.loads((run / "train_results.json").read_text())["global_step"] == passes * 4
    assert len((run / "train_log.jsonl").read_text().splitlines()) == passes * 4
    model = CrossModalHashModel.from_pretrained(run)
    assert model.config.image_encoder["config"]["model_type"] == "clip_vision_model"
    AcceleratorState._reset_state(reset_partial_state=True)
