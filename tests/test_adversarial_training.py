"""The trainer with alternating optimisers: GANCMH's discriminator / generator steps under bf16 and accumulation.

Each step has its own optimiser; a step's optimiser must change only that step's parameters, and every step
must actually update (with gradient accumulation, once per ``gradient_accumulation_steps`` batches).
"""

from __future__ import annotations

import math

import pytest
import torch
from accelerate.state import AcceleratorState

from cmhash_hf.training import HashTrainingArguments
from cmhash_hf.training.setup import prepare_run
from cmhash_hf.training.trainer import HashTrainer

TRAIN_ITEMS, BATCH_SIZE, EPOCHS = 48, 8, 2


@pytest.fixture(autouse=True)
def fresh_accelerator_state():
    """Accelerate keeps one mixed-precision setting per process; these tests change it, so reset around each."""
    AcceleratorState._reset_state(reset_partial_state=True)
    yield
    AcceleratorState._reset_state(reset_partial_state=True)


def _watch_optimisers(trainer: HashTrainer) -> dict[str, int]:
    """Count each step's real optimiser updates and check that each one touches only its own parameters."""
    model = trainer.unwrapped
    names = {id(p): name for name, p in model.named_parameters()}
    updates = dict.fromkeys(trainer.steps, 0)
    for step, optimizer in trainer.optimizers.items():
        own = {id(p) for p in model.step_parameters(step)}
        before: dict[int, torch.Tensor] = {}

        def snapshot(opt, args, kwargs, before=before):
            before.update({id(p): p.detach().clone() for p in model.parameters()})

        def compare(opt, args, kwargs, step=step, own=own, before=before):
            changed = {id(p) for p in model.parameters() if not torch.equal(before[id(p)], p.detach())}
            strays = sorted(names[i] for i in changed - own)
            assert not strays, f"the {step!r} optimiser changed parameters of other steps: {strays[:5]}"
            assert changed, f"the {step!r} optimiser stepped without changing anything"
            updates[step] += 1

        optimizer.optimizer.register_step_pre_hook(snapshot)
        optimizer.optimizer.register_step_post_hook(compare)
    return updates


@pytest.mark.parametrize(
    "mixed_precision, accumulation",
    [("bf16", 1), ("no", 2)],
    ids=["bf16", "grad-accumulation-2"],
)
def test_each_step_updates_only_its_own_parameters(tmp_path, mixed_precision, accumulation):
    args = HashTrainingArguments(
        method="gancmh",
        output_dir=str(tmp_path),
        preset="cpu",
        bits=16,
        epochs=EPOCHS,
        batch_size=BATCH_SIZE,
        max_train_samples=TRAIN_ITEMS,
        mixed_precision=mixed_precision,
        gradient_accumulation_steps=accumulation,
    )
    trainer = HashTrainer(args, prepare_run(args))
    assert trainer.steps == ("discriminator", "generator")
    updates = _watch_optimisers(trainer)
    metrics = trainer.train()
    batches = TRAIN_ITEMS // BATCH_SIZE
    expected = EPOCHS * math.ceil(batches / accumulation)
    assert updates == {"discriminator": expected, "generator": expected}
    assert metrics["global_step"] == EPOCHS * batches
    assert math.isfinite(metrics["discriminator/loss"]) and math.isfinite(metrics["generator/loss"])


def test_overlapping_steps_cannot_accumulate_gradients(tmp_path, monkeypatch):
    """Two steps sharing parameters would mix their gradients while accumulating: refused up front."""
    from cmhash_hf import GANCMHModel

    monkeypatch.setattr(GANCMHModel, "step_parameters", lambda self, step: list(self.parameters()))
    args = HashTrainingArguments(
        method="gancmh", output_dir=str(tmp_path), preset="cpu", bits=16, epochs=1, batch_size=BATCH_SIZE,
        max_train_samples=16, gradient_accumulation_steps=2,
    )
    with pytest.raises(ValueError, match="share parameters.*gradient_accumulation_steps=1"):
        HashTrainer(args, prepare_run(args))
