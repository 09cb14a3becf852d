"""The Accelerate training loop: one loop for every method, driven by the method's training protocol.

The loop knows methods only through the hooks of `CrossModalHashPreTrainedModel` (``training_steps``,
``step_schedule``, ``step_parameters``, ``init_training_state``, ``update_training_state``, ``on_epoch_end``).
Each step has its own AdamW optimiser; while a step runs, only its parameters take gradients, so alternating
steps (image net / text net, generator / discriminator) never leak gradients into each other. It runs the same
under ``accelerate launch`` (several processes, GPUs, mixed precision, gradient accumulation).

Example:
    >>> import tempfile
    >>> from cmhash_hf.training import HashTrainingArguments, train
    >>> metrics = train(HashTrainingArguments(method="dcmh", output_dir=tempfile.mkdtemp(), bits=16, epochs=1,
    ...                                       dataset_kwargs={"num_items": 2400}, max_train_samples=32))
    ... # doctest: +ELLIPSIS
    epoch 1/1 done: ...
    >>> metrics["epochs"], metrics["global_step"]
    (1, 2)
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator, DistributedDataParallelKwargs, PartialState
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from ..data import CrossModalCollator, IndexedRows
from ..data.splits import split_file_name
from ..file_utils import atomic_write_text, disk_errors, folder_lock, staged_files
from ..runs import (
    CHECKPOINT_DIR,
    LOG_FILE,
    TRAIN_RESULTS_FILE,
    TRAINER_STATE_FILE,
    TRAINING_ARGS_FILE,
)
from .arguments import HashTrainingArguments
from .augmentation import augment_pixels, augmentation_generator
from .setup import PreparedRun, prepare_run

logger = logging.getLogger(__name__)

ARGS_FILE = TRAINING_ARGS_FILE
RESULTS_FILE = TRAIN_RESULTS_FILE


class EpochShuffleSampler(Sampler[int]):
    """A shuffling sampler whose order depends only on (seed, epoch), so a resumed run sees the same batches."""

    def __init__(self, num_items: int, seed: int) -> None:
        self.num_items = num_items
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
        return iter(torch.randperm(self.num_items, generator=generator).tolist())

    def __len__(self) -> int:
        return self.num_items


@contextlib.contextmanager
def only_these_trainable(model: torch.nn.Module, parameters: list[torch.nn.Parameter]) -> Iterator[None]:
    """Inside the block only ``parameters`` require gradients (the others are restored afterwards)."""
    keep = {id(p) for p in parameters}
    frozen = [p for p in model.parameters() if p.requires_grad and id(p) not in keep]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def check_steps_disjoint(step_params: dict[str, list[torch.nn.Parameter]]) -> None:
    """Refuse training steps that share parameters when gradients are accumulated over several batches.

    While accumulating, each step's gradients stay in ``.grad`` until its optimiser steps; a parameter in two
    steps would collect both steps' gradients and be updated with their mix.

    Example:
        >>> a, b = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
        >>> check_steps_disjoint({"image": [a], "text": [b]})  # fine: nothing shared
        >>> check_steps_disjoint({"image": [a], "text": [a, b]})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: Training steps 'image' and 'text' share parameters, so their gradients would mix while ...
    """
    owner: dict[int, str] = {}
    for step, params in step_params.items():
        for p in params:
            other = owner.setdefault(id(p), step)
            if other != step:
                raise ValueError(
                    f"Training steps {other!r} and {step!r} share parameters, so their gradients would mix while "
                    "accumulating: train with gradient_accumulation_steps=1 or give each step its own parameters."
                )


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete epoch checkpoints of a run folder (those with a trainer state file), oldest first."""
    root = Path(output_dir) / CHECKPOINT_DIR
    done = [p for p in root.glob("epoch-*") if (p / TRAINER_STATE_FILE).is_file()]
    return sorted(done, key=lambda p: int(p.name.split("-")[1]))


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete epoch checkpoint of a run folder, or None."""
    done = complete_checkpoints(output_dir)
    return done[-1] if done else None


class HashTrainer:
    """Trains a prepared run with Accelerate; `train()` returns the final metrics of the run."""

    def __init__(self, args: HashTrainingArguments, run: PreparedRun) -> None:
        self.args = args
        self.run = run
        self.output_dir = Path(args.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=args.mixed_precision,
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
        )
        model = run.model
        self.steps = tuple(model.training_steps)
        self.step_params = {step: model.step_parameters(step) for step in self.steps}
        if args.gradient_accumulation_steps > 1:
            check_steps_disjoint(self.step_params)
        self.optimizers = {
            step: torch.optim.AdamW(params, lr=args.learning_rate, weight_decay=args.weight_decay)
            for step, params in self.step_params.items()
        }
        train_rows = run.data.select(run.train_indices)
        collator = CrossModalCollator(run.processor, run.data.num_labels, run.data.labels_are_indices)
        self.sampler = EpochShuffleSampler(len(train_rows), args.seed)
        loader = DataLoader(
            IndexedRows(train_rows, collator.columns),
            batch_size=args.batch_size,
            sampler=self.sampler,
            collate_fn=collator,
            num_workers=args.num_workers,
        )
        train_labels = torch.from_numpy(train_rows.multi_hot()) if model.uses_labels else None
        self.state = model.init_training_state(train_labels, len(train_rows))
        prepared = self.accelerator.prepare(model, loader, *self.optimizers.values())
        self.model, self.loader = prepared[0], prepared[1]
        self.optimizers = dict(zip(self.steps, prepared[2:]))
        if self.state is not None:
            self.state = self.state.to(self.accelerator.device)
            self.accelerator.register_for_checkpointing(self.state)
        self.global_step = 0

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    def _passes(self, epoch: int) -> list[tuple[str, ...]]:
        steps = self.unwrapped.steps_for_epoch(epoch, self.args.epochs)
        unknown = set(steps) - set(self.steps)
        if unknown:
            raise ValueError(f"steps_for_epoch returned steps {sorted(unknown)} that are not in training_steps.")
        if self.unwrapped.step_schedule == "epoch":
            return [(step,) for step in steps]
        return [tuple(steps)]

    def _log(self, record: dict[str, Any]) -> None:
        if self.accelerator.is_main_process:
            with open(self.output_dir / LOG_FILE, "a") as handle:
                handle.write(json.dumps(record) + "\n")

    def _run_step(self, step: str, batch: dict[str, torch.Tensor]) -> dict[str, float]:
        model = self.model
        with only_these_trainable(self.unwrapped, self.step_params[step]), self.accelerator.autocast():
            output = model(**batch, training_step=step, training_state=self.state)
            loss = output.loss
            if not torch.isfinite(loss):
                raise FloatingPointError(f"The {step!r} loss became {loss.item()} at step {self.global_step}.")
            self.accelerator.backward(loss)
            self.optimizers[step].step()
            self.optimizers[step].zero_grad(set_to_none=True)
        if self.state is not None:
            gathered = {
                name: None if value is None else self.accelerator.gather(value.detach().float())
                for name, value in (("image_embeds", output.image_embeds), ("text_embeds", output.text_embeds))
            }
            index = self.accelerator.gather(batch["sample_index"])
            self.unwrapped.update_training_state(self.state, step, gathered["image_embeds"], gathered["text_embeds"], index)
        terms = {f"{step}/{k}": float(v) for k, v in (output.loss_terms or {}).items()}
        return {f"{step}/loss": loss.item(), **terms}

    def _save_checkpoint(self, epoch: int) -> None:
        """Save an epoch checkpoint; its trainer state file is written last and marks it complete.

        A failure part-way (disk full) removes the incomplete folder, so the earlier checkpoints stay the
        newest complete ones and ``--resume`` continues from them.
        """
        folder = self.output_dir / CHECKPOINT_DIR / f"epoch-{epoch + 1}"
        try:
            with disk_errors(folder):
                self.accelerator.save_state(str(folder))
                if self.accelerator.is_main_process:
                    state = {"epoch": epoch + 1, "global_step": self.global_step}
                    atomic_write_text(folder / TRAINER_STATE_FILE, json.dumps(state))
        except BaseException:
            if self.accelerator.is_main_process and not (folder / TRAINER_STATE_FILE).is_file():
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if self.accelerator.is_main_process:
            if self.args.save_total_limit is not None:  # the newest ones stay, so --resume still works
                for old in complete_checkpoints(self.output_dir)[: -self.args.save_total_limit]:
                    shutil.rmtree(old, ignore_errors=True)

    def _start_fresh(self) -> None:
        if latest_checkpoint(self.output_dir) is not None and not self.args.overwrite_output_dir:
            raise ValueError(
                f"{self.output_dir} holds checkpoints of an earlier run: pass --resume to continue it or "
                "--overwrite-output-dir to start again."
            )
        if self.accelerator.is_main_process:
            shutil.rmtree(self.output_dir / CHECKPOINT_DIR, ignore_errors=True)
            (self.output_dir / LOG_FILE).unlink(missing_ok=True)
            (self.output_dir / RESULTS_FILE).unlink(missing_ok=True)  # the folder holds an unfinished run now
        self.accelerator.wait_for_everyone()

    def _resume(self) -> int:
        checkpoint = latest_checkpoint(self.output_dir)
        if checkpoint is None:
            logger.warning("--resume: no checkpoint in %s; starting from scratch.", self.output_dir)
            return 0
        self.accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text())
        self.global_step = state["global_step"]
        if self.accelerator.is_main_process:
            self._truncate_log(self.global_step)
        logger.info("Resumed from %s (epoch %d).", checkpoint, state["epoch"])
        return int(state["epoch"])

    def _truncate_log(self, last_step: int) -> None:
        """Drop the log records of steps after the checkpoint (a killed run logged them), so each step is in
        the log once after the resumed run logs them again."""
        path = self.output_dir / LOG_FILE
        if not path.is_file():
            return
        kept = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the kill
                continue
            if record.get("step", 0) <= last_step:
                kept.append(line)
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    def finished_metrics(self) -> dict[str, Any] | None:
        """The recorded metrics when the run folder already holds this run trained to ``args.epochs``, else None."""
        checkpoint = latest_checkpoint(self.output_dir)
        results = self.output_dir / RESULTS_FILE
        if checkpoint is None or not results.is_file() or not (self.output_dir / "config.json").is_file():
            return None
        state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text())
        if int(state["epoch"]) < self.args.epochs:
            return None
        return json.loads(results.read_text())

    def _save_final(self, metrics: dict[str, Any]) -> None:
        """The model (config, weights, checksums: one switch, then its card), then processor, split file and
        ``train_results.json`` (a second switch). ``train_results.json`` comes last and marks the run finished,
        so a failure part-way (disk full) leaves a run that `cmhash evaluate` calls unfinished and ``--resume``
        saves again; no file is ever half-written."""
        self.unwrapped.save_pretrained(self.output_dir)
        with staged_files(self.output_dir) as staging:
            self.run.processor.save_pretrained(staging)
            self.run.split.save(staging / split_file_name(self.args.protocol, self.args.split_seed))
            atomic_write_text(staging / RESULTS_FILE, json.dumps(metrics, indent=2))

    def train(self) -> dict[str, Any]:
        """Run the remaining epochs, checkpoint after each, and save model + processor into ``output_dir``.

        The run folder is locked for the whole run (`cmhash_hf.file_utils.folder_lock`): a second process
        writing there stops at once. ``--resume`` of a finished run returns its recorded metrics and changes
        nothing. A full disk raises one `OSError` naming the folder; the checkpoints saved before stay.
        """
        self.output_dir.mkdir(parents=True, exist_ok=True)
        main = self.accelerator.is_main_process
        with folder_lock(self.output_dir, "cmhash train") if main else contextlib.nullcontext():
            with disk_errors(self.output_dir):
                return self._train()

    def _train(self) -> dict[str, Any]:
        if self.args.resume:
            finished = self.finished_metrics()
            if finished is not None:
                logger.warning("--resume: %s already holds this run trained to %d epochs; nothing to do.",
                               self.output_dir, self.args.epochs)
                return finished
        if not self.args.resume:
            self._start_fresh()
        start_epoch = self._resume() if self.args.resume else 0
        if self.accelerator.is_main_process:
            atomic_write_text(self.output_dir / ARGS_FILE, json.dumps(self.args.to_dict(), indent=2))
            self.run.processor.save_pretrained(self.output_dir)
        started = time.perf_counter()
        items_seen = 0
        last: dict[str, float] = {}
        for epoch in range(start_epoch, self.args.epochs):
            self.model.train()
            passes = self._passes(epoch)
            for pass_number, steps in enumerate(passes):
                self.loader.set_epoch(epoch * len(self.steps) + pass_number)
                label = f"epoch {epoch + 1}/{self.args.epochs}" + (f" [{steps[0]}]" if len(passes) > 1 else "")
                bar = tqdm(self.loader, desc=label, disable=None if self.accelerator.is_local_main_process else True, leave=False)
                for batch in bar:
                    record: dict[str, float] = {}
                    if "pixel_values" in batch:
                        generator = augmentation_generator(self.args.seed, self.global_step)
                        batch["pixel_values"] = augment_pixels(batch["pixel_values"], self.args.image_augmentation, generator)
                    # One accumulation count per batch, whatever the number of steps: entering `accumulate` once
                    # per step would advance Accelerate's counter several times per batch, so with alternating
                    # steps some optimisers would never reach a synchronising batch.
                    with self.accelerator.accumulate(self.model):
                        for step in steps:
                            record.update(self._run_step(step, batch))
                    self.global_step += 1
                    items_seen += len(batch["sample_index"]) * self.accelerator.num_processes
                    last.update(record)
                    bar.set_postfix({k: f"{v:.4f}" for k, v in record.items() if k.endswith("/loss")})
                    self._log({"epoch": epoch + 1, "step": self.global_step, **record})
            self.unwrapped.on_epoch_end(self.state, epoch)
            self.accelerator.wait_for_everyone()
            self._save_checkpoint(epoch)
            summary = {k: round(v, 5) for k, v in last.items() if k.endswith("/loss")}
            if self.accelerator.is_local_main_process:
                tqdm.write(f"epoch {epoch + 1}/{self.args.epochs} done: {summary}")
        elapsed = time.perf_counter() - started
        self.accelerator.wait_for_everyone()
        metrics = {
            "epochs": self.args.epochs,
            "global_step": self.global_step,
            "train_seconds": round(elapsed, 3),
            "train_items_per_second": round(items_seen / elapsed, 2) if elapsed > 0 and items_seen else math.nan,
            **{k: round(v, 6) for k, v in last.items()},
        }
        if self.accelerator.is_main_process:
            self._save_final(metrics)
        return metrics


def train(args: HashTrainingArguments) -> dict[str, Any]:
    """Prepare and train a run; the model and processor end up in ``args.output_dir``.

    The run folder is locked before anything is loaded, so a second writer stops at once.
    """
    main = PartialState().is_main_process
    with folder_lock(args.output_dir, "cmhash train") if main else contextlib.nullcontext():
        return HashTrainer(args, prepare_run(args)).train()
