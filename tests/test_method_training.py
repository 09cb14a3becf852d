"""Every registered method through the trainer: one epoch trains every step, a resumed run ends bit-identical,
the run's seed reaches the per-item state, and the trainer's per-step freezing and epoch-end update matter.

Tiny runs: builtin:shapes with the ``tiny`` preset, 8-bit codes, 24 training items in batches of 8; each
method's config overrides come from `method_cases.METHOD_CASES` (the one table of the model tests).
"""

from __future__ import annotations

import contextlib
import json

import pytest
import torch
from safetensors.torch import load_file

from cmhash_hf.training import HashTrainingArguments, prepare_run
from cmhash_hf.training import setup as run_setup
from cmhash_hf.training import trainer as trainer_module
from cmhash_hf.training.trainer import HashTrainer
from method_cases import METHOD_CASES

ITEMS, BATCH_SIZE, BITS = 24, 8, 8
_DATASETS: dict[str, object] = {}


@pytest.fixture(autouse=True)
def built_once(monkeypatch):
    """Build builtin:shapes once for the module (8 s each time otherwise); runs only read it."""
    load = run_setup.load_cross_modal_dataset

    def cached(name, **kwargs):
        key = f"{name}{sorted(kwargs.items())}"
        if key not in _DATASETS:
            _DATASETS[key] = load(name, **kwargs)
        return _DATASETS[key]

    monkeypatch.setattr(run_setup, "load_cross_modal_dataset", cached)


def _args(method: str, output_dir, **overrides) -> HashTrainingArguments:
    values = dict(method=method, output_dir=str(output_dir), bits=BITS, epochs=1, batch_size=BATCH_SIZE,
                  max_train_samples=ITEMS, dataset_kwargs={"num_items": 2400}, method_kwargs=METHOD_CASES[method])
    return HashTrainingArguments(**{**values, **overrides})


def _trainer(method: str, output_dir, **overrides) -> HashTrainer:
    args = _args(method, output_dir, **overrides)
    return HashTrainer(args, prepare_run(args))


def _state_buffers(folder) -> dict[str, torch.Tensor]:
    """The per-item training state saved in a checkpoint folder (Accelerate's custom checkpoint), or {}."""
    buffers = {}
    for path in sorted(folder.glob("custom_checkpoint_*.pkl")):
        loaded = torch.load(path, weights_only=False)
        if isinstance(loaded, dict) and "codes" in loaded:
            buffers = loaded
    return buffers


class Interrupted(Exception):
    """Stands in for a run killed right after its first epoch checkpoint."""


def test_every_method_trains_every_step_and_resumes_bit_identically(method_name, tmp_path, monkeypatch):
    straight = _trainer(method_name, tmp_path / "straight", epochs=2)
    start = {name: p.detach().clone() for name, p in straight.unwrapped.named_parameters()}
    metrics = straight.train()
    final = load_file(tmp_path / "straight" / "model.safetensors")
    for step in straight.steps:  # every step moved its own parameters
        names = {name for name, p in straight.unwrapped.named_parameters()
                 if any(p is q for q in straight.step_params[step])}
        assert any(not torch.equal(final[name], start[name]) for name in names if name in final), step
    assert all(torch.isfinite(torch.tensor(v)) for k, v in metrics.items() if k.endswith("/loss"))

    save = HashTrainer._save_checkpoint

    def save_then_stop(self, epoch):
        save(self, epoch)
        raise Interrupted

    with monkeypatch.context() as patch:
        patch.setattr(HashTrainer, "_save_checkpoint", save_then_stop)
        with pytest.raises(Interrupted):
            _trainer(method_name, tmp_path / "resumed", epochs=2).train()
    assert not (tmp_path / "resumed" / "model.safetensors").exists()
    _trainer(method_name, tmp_path / "resumed", epochs=2, resume=True).train()
    resumed = load_file(tmp_path / "resumed" / "model.safetensors")
    assert final.keys() == resumed.keys()
    assert all(torch.equal(final[k], resumed[k]) for k in final), method_name
    states = [_state_buffers(tmp_path / run / "checkpoints" / "epoch-2") for run in ("straight", "resumed")]
    assert states[0].keys() == states[1].keys() and bool(states[0]) == (straight.state is not None)
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


@pytest.mark.parametrize("method", ["dcmh", "dcph", "dfah"])
def test_the_run_seed_reaches_the_per_item_state(method, tmp_path):
    first, again, other = (_trainer(method, tmp_path / name, seed=seed)
                           for name, seed in (("a", 1), ("b", 1), ("c", 2)))
    for name, value in first.state.state_dict().items():
        if name.endswith("_outputs"):
            assert torch.equal(value, again.state.state_dict()[name]), name  # the same seed: the same start
            assert not torch.equal(value, other.state.state_dict()[name]), name  # another seed: another start
    assert torch.equal(first.state.codes, again.state.codes) and not torch.equal(first.state.codes, other.state.codes)


def _steps_see_only_their_own_gradients(trainer: HashTrainer) -> list[str]:
    """Watch every optimiser step; list the parameters of other steps that carried a gradient at that moment."""
    model = trainer.unwrapped
    names = {id(p): name for name, p in model.named_parameters()}
    strays: list[str] = []
    for step, optimizer in trainer.optimizers.items():
        own = {id(p) for p in trainer.step_params[step]}

        def check(opt, args, kwargs, step=step, own=own):
            strays.extend(f"{step}: {names[id(p)]}" for p in model.parameters()
                          if id(p) not in own and p.grad is not None)

        optimizer.optimizer.register_step_pre_hook(check)
    return strays


@pytest.mark.parametrize("method", ["gancmh", "dfah"])
def test_while_a_step_runs_only_its_parameters_take_gradients(method, tmp_path):
    """The generator loss reaches the discriminator through the confusion term: without the trainer's per-step
    freezing (`only_these_trainable`) those gradients would pile up and leak into the discriminator's next step."""
    trainer = _trainer(method, tmp_path)
    strays = _steps_see_only_their_own_gradients(trainer)
    trainer.train()
    assert strays == []


def test_without_per_step_freezing_gradients_leak_between_steps(tmp_path, monkeypatch):
    """The check above can fail: with the freezing removed it sees the leak."""
    monkeypatch.setattr(trainer_module, "only_these_trainable", lambda model, params: contextlib.nullcontext())
    trainer = _trainer("gancmh", tmp_path)
    strays = _steps_see_only_their_own_gradients(trainer)
    trainer.train()
    assert any(name.startswith("generator: discriminator.") for name in strays)


@pytest.mark.parametrize("method", ["dcmh", "dcph", "dfah"])
def test_the_epoch_end_update_sets_the_codes_from_the_recorded_outputs(method, tmp_path):
    """After each epoch the trainer runs the method's discrete step: B = sign(Σ w_s · outputs_s) over the
    recorded outputs of the whole training set (and the state counts it)."""
    trainer = _trainer(method, tmp_path, epochs=2)
    trainer.train()
    state = trainer.state
    assert int(state.code_updates) == 2
    config = trainer.unwrapped.config
    weights = {  # DCPH: sign(F + G); DCMH: sign(γ(F + G)); DFAH: sign(γ(U + V) + μZ)
        "dcph": {},
        "dcmh": {"image": config.quantization_weight, "text": config.quantization_weight},
        "dfah": {"image": config.quantization_weight, "text": config.quantization_weight,
                 "fused": getattr(config, "fusion_quantization_weight", None)},
    }[method]
    total = sum(weights.get(stream, 1.0) * state.outputs(stream) for stream in state.streams)
    assert torch.equal(state.codes, torch.where(total >= 0, 1.0, -1.0))
    saved = json.loads((tmp_path / "checkpoints" / "epoch-2" / "trainer_state.json").read_text())
    assert saved["epoch"] == 2


@pytest.mark.parametrize("method", ["dcmh", "dcph", "dfah"])
def test_every_item_outputs_are_recorded_during_an_epoch(method, tmp_path):
    """`update_training_state` writes each batch's outputs into the per-item state: after one epoch no row of
    the image or text outputs is still the seeded random start (the same seed gives the same start)."""
    start = _trainer(method, tmp_path / "start").state
    trained = _trainer(method, tmp_path / "trained")
    trained.train()
    for stream in ("image", "text"):
        before, after = start.outputs(stream), trained.state.outputs(stream)
        assert before.shape == (ITEMS, BITS)
        assert (after != before).any(dim=1).all(), stream
        assert after.abs().max() < 1.0  # tanh outputs, not the Gaussian start
