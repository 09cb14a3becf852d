"""The Accelerate training loop: one loop for every method, driven by the method's training protocol.

The loop knows methods only through the hooks of `CrossModalHashPreTrainedModel` (``training_steps``,
``step_schedule``, ``step_parameters``, ``init_training_state``, ``before_first_epoch``, ``update_training_state``,
``on_epoch_end``).
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
from accelerate.utils import parse_flag_from_env
from safetensors.torch import load_file
from torch.utils.data import DataLoader, Sampler
from tqdm.auto import tqdm

from ..data import CrossModalCollator, IndexedRows
from ..data.bad_rows import FIX_ROW, SKIP_REMEDY, SKIPPED_ROWS_FILE, write_skipped_rows
from ..data.splits import split_file_name, validation_protocol
from ..evaluation import LoadedRun, encode_split, score_codes
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
from .feature_cache import CachedOutputsCollator, cached_tower_outputs, default_cache_dir
from .optimization import build_scheduler, optimizer_updates, param_groups
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


def state_generator(seed: int) -> torch.Generator:
    """The generator `init_training_state` draws a method's per-item state from: one per run seed.

    Example:
        >>> torch.randn(2, generator=state_generator(3)).tolist() == torch.randn(2, generator=state_generator(3)).tolist()
        True
    """
    return torch.Generator().manual_seed(seed)


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


def _checkpoint_order(folder: Path) -> tuple[int, int]:
    state = json.loads((folder / TRAINER_STATE_FILE).read_text())
    return int(state["global_step"]), 1 if folder.name.startswith("epoch-") else 0


def complete_checkpoints(output_dir: str | Path) -> list[Path]:
    """The complete checkpoints of a run folder (``epoch-N`` and ``step-N`` folders with a trainer state file),
    oldest first (by global step; at the same step the epoch checkpoint is the newer)."""
    root = Path(output_dir) / CHECKPOINT_DIR
    done = [p for pattern in ("epoch-*", "step-*") for p in root.glob(pattern) if (p / TRAINER_STATE_FILE).is_file()]
    return sorted(done, key=_checkpoint_order)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete checkpoint of a run folder, or None."""
    done = complete_checkpoints(output_dir)
    return done[-1] if done else None


class HashTrainer:
    """Trains a prepared run with Accelerate; `train()` returns the final metrics of the run.

    Optimisation (`cmhash_hf.training.optimization`): each training step of the method has its own AdamW with an
    ``encoder`` and a ``heads`` param group (plus the model's `own_param_groups`) and its own warm-up + decay
    schedule; ``max_grad_norm`` clips each
    step's gradients. With ``freeze_encoders`` the backbones take no gradient, run in eval mode, and (unless
    ``feature_cache`` is off) their outputs come from the on-disk feature cache (`cmhash_hf.training.feature_cache`).
    """

    def __init__(self, args: HashTrainingArguments, run: PreparedRun) -> None:
        self.args = args
        self.run = run
        self.output_dir = Path(args.output_dir)
        self.accelerator = Accelerator(
            mixed_precision=args.mixed_precision,
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)],
            log_with=_tracker(args.report_to),
            project_dir=str(self.output_dir),
        )
        model = run.model
        self._set_up_encoders(model)
        self.steps = tuple(model.training_steps)
        self.step_params = {step: [p for p in model.step_parameters(step) if p.requires_grad] for step in self.steps}
        if args.gradient_accumulation_steps > 1:
            check_steps_disjoint(self.step_params)
        self.optimizers = {
            step: torch.optim.AdamW(
                param_groups(model, params, args.learning_rate, args.encoder_learning_rate, args.weight_decay)
            )
            for step, params in self.step_params.items()
        }
        train_rows = run.data.select(run.train_indices)
        self.model = self.accelerator.prepare(model)
        self.cache_files: list[str] = []
        collator = self._collator(train_rows)
        self.sampler = EpochShuffleSampler(len(train_rows), args.seed)
        loader = DataLoader(
            IndexedRows(train_rows, collator.collator.columns if isinstance(collator, CachedOutputsCollator)
                        else collator.columns, row_ids=run.train_indices, remedy=self._remedy),
            batch_size=args.batch_size,
            sampler=self.sampler,
            collate_fn=collator,
            num_workers=args.num_workers,
        )
        train_labels = torch.from_numpy(train_rows.multi_hot()) if model.uses_labels else None
        self.train_labels = train_labels
        # per-item state (e.g. F, G, B) starts from the run's seed, like the weights and the batch order
        self.state = model.init_training_state(train_labels, len(train_rows), state_generator(args.seed))
        prepared = self.accelerator.prepare(loader, *self.optimizers.values())
        self.loader = prepared[0]
        self.optimizers = dict(zip(self.steps, prepared[1:]))
        if self.state is not None:
            self.state = self.state.to(self.accelerator.device)
            self.accelerator.register_for_checkpointing(self.state)
        self.schedulers = self._build_schedulers()
        for scheduler in self.schedulers.values():
            self.accelerator.register_for_checkpointing(scheduler)
        self.global_step = 0
        self.validation_curve: list[dict[str, Any]] = []

    @property
    def unwrapped(self):
        return self.accelerator.unwrap_model(self.model)

    # ----------------------------------------------------------------- set-up (encoders, cache, schedules)
    def _set_up_encoders(self, model) -> None:
        """Freeze the pretrained towers (``freeze_encoders``); turn on gradient checkpointing in every trained
        `transformers` backbone (``gradient_checkpointing``)."""
        frozen = list(model.encoder_towers().values()) if self.args.freeze_encoders else []
        for tower in frozen:
            tower.requires_grad_(False)
        for tower in (model.image_tower, model.text_tower):
            backbone = getattr(tower, "model", None)
            if (self.args.gradient_checkpointing and all(tower is not f for f in frozen)
                    and getattr(backbone, "supports_gradient_checkpointing", False)):
                backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})

    def _frozen_towers_to_eval(self) -> None:
        """Frozen backbones run in eval mode (no dropout): their outputs are then the same in every epoch."""
        if self.args.freeze_encoders:
            for tower in self.unwrapped.encoder_towers().values():
                tower.eval()

    def _collator(self, train_rows):
        """The training collator; with frozen encoders and the cache on, one that serves the backbones' outputs
        from the feature cache instead of the processed inputs."""
        run, args = self.run, self.args
        cached = tuple(self.unwrapped.encoder_towers()) if args.freeze_encoders and args.feature_cache else ()
        skip = () if self.unwrapped.reads_raw_inputs else cached
        collator = CrossModalCollator(run.processor, run.data.num_labels, run.data.labels_are_indices, skip=skip,
                                      remedy=self._remedy)
        if not cached:
            return collator
        cache_dir = args.feature_cache_dir or default_cache_dir()
        outputs = {}
        with self.accelerator.main_process_first():
            for modality in cached:
                table, path, hit = cached_tower_outputs(
                    self.unwrapped, modality, run.data, run.train_indices, run.processor, cache_dir,
                    args.batch_size, args.mixed_precision, self.accelerator.autocast,
                )
                outputs[modality] = table
                self.cache_files.append(str(path))
                logger.info("%s feature cache %s: %s", modality, "hit" if hit else "written", path)
        return CachedOutputsCollator(collator, outputs)

    @property
    def _remedy(self) -> str:
        """How an error about a bad training row ends: with ``skip_bad_rows`` the bad rows are already left out."""
        return FIX_ROW if self.args.skip_bad_rows else SKIP_REMEDY

    def _all_passes(self) -> list[list[tuple[str, ...]]]:
        return [self._passes(epoch) for epoch in range(self.args.epochs)]

    def _build_schedulers(self) -> dict[str, Any]:
        updates = optimizer_updates(self._all_passes(), len(self.loader), self.args.gradient_accumulation_steps)
        return {step: build_scheduler(optimizer.optimizer, self.args.lr_scheduler, self.args.warmup_ratio,
                                      updates.get(step, 0))
                for step, optimizer in self.optimizers.items()}

    def _before_optimizer_step(self, step: str) -> None:
        """Clip the step's gradients (``max_grad_norm``) on the batches where the optimiser updates."""
        if self.args.max_grad_norm is not None and self.accelerator.sync_gradients:
            self.accelerator.clip_grad_norm_(self.step_params[step], self.args.max_grad_norm)

    def _after_optimizer_step(self, step: str) -> None:
        """Advance the step's schedule once per optimiser update (not per accumulated batch)."""
        if self.accelerator.sync_gradients:
            self.schedulers[step].step()

    def learning_rates(self) -> dict[str, float]:
        """The current learning rate of every step's param groups, as ``lr/<step>/<group>``."""
        return {f"lr/{step}/{group['name']}": group["lr"]
                for step, optimizer in self.optimizers.items() for group in optimizer.param_groups}

    # ----------------------------------------------------------------- the loop
    def _passes(self, epoch: int) -> list[tuple[str, ...]]:
        steps = self.run.model.steps_for_epoch(epoch, self.args.epochs)
        unknown = set(steps) - set(self.steps)
        if unknown:
            raise ValueError(f"steps_for_epoch returned steps {sorted(unknown)} that are not in training_steps.")
        if self.run.model.step_schedule == "epoch":
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
            self._before_optimizer_step(step)
            self.optimizers[step].step()
            self._after_optimizer_step(step)
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

    # ----------------------------------------------------------------- checkpoints
    def _save_checkpoint(self, epoch: int) -> None:
        """Save the checkpoint at the end of ``epoch`` (0-based) into ``checkpoints/epoch-<epoch + 1>``."""
        self._write_checkpoint(f"epoch-{epoch + 1}", {"epoch": epoch + 1, "pass": 0, "batch": 0})

    def _save_step_checkpoint(self, epoch: int, pass_number: int, batch_number: int) -> None:
        """Save a ``--save-steps`` checkpoint into ``checkpoints/step-<global step>``, in the middle of ``epoch``."""
        self._write_checkpoint(f"step-{self.global_step}", {"epoch": epoch, "pass": pass_number, "batch": batch_number})

    def _write_checkpoint(self, name: str, position: dict[str, int]) -> None:
        """Save everything a resume needs into ``checkpoints/<name>``; ``position`` says where in the run it is
        (``epoch``: epochs completed, ``pass``/``batch``: passes and batches done in the next epoch)."""
        folder = self.output_dir / CHECKPOINT_DIR / name
        try:  # the trainer state file is written last and marks the checkpoint complete
            with disk_errors(folder):
                self.accelerator.save_state(str(folder))
                if self.accelerator.is_main_process:
                    state = {**position, "global_step": self.global_step, "validation": self.validation_curve}
                    atomic_write_text(folder / TRAINER_STATE_FILE, json.dumps(state))
        except BaseException:  # a failure part-way (disk full) removes the incomplete folder
            if self.accelerator.is_main_process and not (folder / TRAINER_STATE_FILE).is_file():
                shutil.rmtree(folder, ignore_errors=True)
            raise
        if self.accelerator.is_main_process:
            if self.args.save_total_limit is not None:  # the newest ones stay, so --resume still works
                keep = self._best_checkpoint()
                for old in complete_checkpoints(self.output_dir)[: -self.args.save_total_limit]:
                    if keep is None or old.name != keep.name:
                        shutil.rmtree(old, ignore_errors=True)
        self.accelerator.wait_for_everyone()

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
            (self.output_dir / SKIPPED_ROWS_FILE).unlink(missing_ok=True)  # an earlier run's list
        self.accelerator.wait_for_everyone()

    def _resume(self) -> dict[str, int]:
        checkpoint = latest_checkpoint(self.output_dir)
        if checkpoint is None:
            logger.warning("--resume: no checkpoint in %s; starting from scratch.", self.output_dir)
            return {"epoch": 0, "pass": 0, "batch": 0}
        self.accelerator.load_state(str(checkpoint))
        state = json.loads((checkpoint / TRAINER_STATE_FILE).read_text())
        self.global_step = state["global_step"]
        self.validation_curve = state.get("validation", [])
        if self.accelerator.is_main_process:
            self._truncate_log(self.global_step)
        logger.info("Resumed from %s (epoch %d, step %d).", checkpoint, state["epoch"], self.global_step)
        return {"epoch": int(state["epoch"]), "pass": int(state.get("pass", 0)), "batch": int(state.get("batch", 0))}

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

    # ----------------------------------------------------------------- validation and trackers
    def _validate(self, epoch: int) -> None:
        """Score mAP on the validation split (queries carved from the training set) and record it."""
        split = self.run.validation
        self.unwrapped.eval()
        codes = encode_split(LoadedRun(self.unwrapped, self.run.processor, {}), self.run.data, split,
                             self.args.batch_size)
        scores = score_codes(*codes)
        point = {"epoch": epoch + 1, "map_i2t": scores["map_i2t"], "map_t2i": scores["map_t2i"]}
        self.validation_curve.append(point)
        self._log({"epoch": epoch + 1, "step": self.global_step, "validation": point})
        self.accelerator.log({"validation/map_i2t": point["map_i2t"], "validation/map_t2i": point["map_t2i"]},
                             step=self.global_step)
        if self.accelerator.is_local_main_process:
            tqdm.write(f"epoch {epoch + 1}: validation mAP i→t {point['map_i2t']:.4f} t→i {point['map_t2i']:.4f}")

    def _best_checkpoint(self) -> Path | None:
        """The epoch checkpoint with the best validation mAP (mean of both directions; the earliest on ties)."""
        if not self.validation_curve:
            return None
        best = max(self.validation_curve, key=lambda p: (p["map_i2t"] + p["map_t2i"], -p["epoch"]))
        return self.output_dir / CHECKPOINT_DIR / f"epoch-{best['epoch']}"

    def _start_trackers(self) -> None:
        if self.args.report_to != "none":
            config = {k: v if isinstance(v, (int, float, str, bool)) else json.dumps(v)
                      for k, v in self.args.to_dict().items() if v is not None}
            self.accelerator.init_trackers("logs", config=config)

    # ----------------------------------------------------------------- train
    def train(self) -> dict[str, Any]:
        """Run the remaining epochs, checkpoint after each (and every ``save_steps`` batches), and save model and
        processor into ``output_dir``.

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
        position = self._resume() if self.args.resume else {"epoch": 0, "pass": 0, "batch": 0}
        if not any(position.values()):  # a fresh start (a resume without a checkpoint too)
            self.unwrapped.before_first_epoch(self.train_labels)
        if self.accelerator.is_main_process:
            atomic_write_text(self.output_dir / ARGS_FILE, json.dumps(self.args.to_dict(), indent=2))
            self.run.processor.save_pretrained(self.output_dir)
            if self.args.skip_bad_rows:  # recorded now, so --resume trains on the same rows
                write_skipped_rows(self.output_dir, self.run.skipped)
        self._start_trackers()
        started = time.perf_counter()
        items_seen = 0
        last: dict[str, float] = {}
        for epoch in range(position["epoch"], self.args.epochs):
            self.model.train()
            self._frozen_towers_to_eval()
            passes = self._passes(epoch)
            for pass_number, steps in enumerate(passes):
                if epoch == position["epoch"] and pass_number < position["pass"]:
                    continue
                self.loader.set_epoch(epoch * len(self.steps) + pass_number)
                skip = position["batch"] if (epoch, pass_number) == (position["epoch"], position["pass"]) else 0
                loader = self.accelerator.skip_first_batches(self.loader, skip) if skip else self.loader
                label = f"epoch {epoch + 1}/{self.args.epochs}" + (f" [{steps[0]}]" if len(passes) > 1 else "")
                bar = tqdm(loader, desc=label, disable=None if self.accelerator.is_local_main_process else True, leave=False)
                for batch_number, batch in enumerate(bar, start=skip + 1):
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
                    record.update(self.learning_rates())
                    self._log({"epoch": epoch + 1, "step": self.global_step, **record})
                    self.accelerator.log(record, step=self.global_step)
                    if self.args.save_steps and self.global_step % self.args.save_steps == 0:
                        self._save_step_checkpoint(epoch, pass_number, batch_number)
            self.unwrapped.on_epoch_end(self.state, epoch)
            self.accelerator.wait_for_everyone()
            if self.args.eval_every_epochs and (epoch + 1) % self.args.eval_every_epochs == 0:
                if self.accelerator.is_main_process:
                    self._validate(epoch)
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
            **self._final_checkpoint(),
        }
        if self.cache_files:
            metrics["feature_cache"] = self.cache_files
        if self.args.skip_bad_rows:
            metrics.update(train_rows=len(self.run.train_indices), skipped_rows=len(self.run.skipped))
        self.accelerator.end_training()
        if self.accelerator.is_main_process:
            self._save_final(metrics)
        return metrics

    def _final_checkpoint(self) -> dict[str, Any]:
        """Load the best validation checkpoint (``load_best_model``) and say which checkpoint the model is."""
        if not self.validation_curve:
            return {"checkpoint": "last epoch"}
        record: dict[str, Any] = {"validation_protocol": validation_protocol(self.args.protocol),
                                  "validation_curve": self.validation_curve}
        best = self._best_checkpoint()
        if self.args.load_best_model and best is not None:
            self.unwrapped.load_state_dict(load_file(str(best / "model.safetensors"), device=str(self.accelerator.device)))
            epoch = int(best.name.split("-")[1])
            record["checkpoint"] = (f"epoch {epoch} of {self.args.epochs}: best mean validation mAP on "
                                    f"{record['validation_protocol']}")
            record["best_epoch"] = epoch
        else:
            record["checkpoint"] = "last epoch"
        return record


def _tracker(report_to: str) -> str | None:
    """The Accelerate tracker of ``report_to``; a missing backend is a clear error with the install hint."""
    if report_to == "none":
        return None
    import importlib.util

    module = {"tensorboard": "tensorboard", "wandb": "wandb"}[report_to]
    if importlib.util.find_spec(module) is None:
        raise ValueError(f"--report-to {report_to} needs the {module} package: pip install {module}")
    return report_to


def train(args: HashTrainingArguments) -> dict[str, Any]:
    """Prepare and train a run; the model and processor end up in ``args.output_dir``.

    The run folder is locked before anything is loaded, so a second writer stops at once.
    """
    # ACCELERATE_USE_CPU as Accelerator reads it: a bare PartialState() would take each torchrun CPU process
    # for a single-process run (and every one of them would lock the folder)
    main = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU")).is_main_process
    with folder_lock(args.output_dir, "cmhash train") if main else contextlib.nullcontext():
        return HashTrainer(args, prepare_run(args)).train()
