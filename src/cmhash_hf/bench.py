"""The benchmark harness behind ``cmhash bench``: train and evaluate methods × code lengths × seeds on one dataset.

Every run is a normal training run (its folder keeps the model, ``training_args.json`` and ``results.json``);
a run already finished with the same settings is reused, so an interrupted benchmark resumes. The harness
aggregates them into mean ± std over seeds and writes ``results.json``, ``results.md`` and a PR-curve
figure. The checkpoint is the last epoch; the number of epochs is either fixed (``epochs``) or, with
``epoch_candidates``, chosen per method on a validation split carved from the training set
(`cmhash_hf.model_selection`) — never on the query set.

A full run is ``run_benchmark(BenchSettings(dataset=..., methods=["dcmh"], bits=[16], seeds=[0], output_dir=...))``
(minutes per run; ``cmhash bench`` is its command line). The settings resolve method names and the aggregation
is a pure function of the per-run rows:

Example:
    >>> settings = BenchSettings(dataset="builtin:shapes", output_dir="bench/shapes", methods=["dcmh", "dth"], bits=[16])
    >>> settings.resolved_methods()
    ['dcmh', 'dth']
    >>> rows = [{"method": "dcmh", "bits": 16, "map_i2t": m, "map_t2i": 0.5, "chance": 0.3,
    ...          "train_items_per_second": 100.0} for m in (0.6, 0.8)]
    >>> print(markdown_table(aggregate(rows), bits=[16]))
    | method | image→text 16 bits | text→image 16 bits |
    |---|---|---|
    | dcmh | 0.700 ± 0.100 | 0.500 ± 0.000 |
"""

from __future__ import annotations

import dataclasses
import json
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .auto import get_method, list_methods
from .evaluation import DIRECTIONS, evaluate_run
from .file_utils import atomic_write_text, folder_lock, staged_files
from .hub import write_model_card
from .metrics import plot_pr_curve
from .model_selection import check_epoch_candidates, choose_epochs_on_validation, validation_protocol
from .training import HashTrainingArguments, train

SELECTION_FILE = "selection.json"
#: Training arguments that do not change a finished run's model, so a run differing only in them is reused.
SETTINGS_WITHOUT_EFFECT = ("overwrite_output_dir", "resume", "save_total_limit", "num_workers", "save_steps",
                           "report_to", "feature_cache", "feature_cache_dir")


@dataclass
class BenchSettings:
    """What a benchmark runs; saved with its results so it can be repeated exactly.

    The training settings of every run are `HashTrainingArguments` (one declaration, the same defaults as
    ``cmhash train``): ``training_kwargs`` holds any of its fields but the ones a benchmark sets per run
    (method, bits, seed, output folder); ``method_kwargs`` adds per-method config overrides.
    """

    dataset: str
    output_dir: str
    methods: list[str] = field(default_factory=lambda: ["all"])
    bits: list[int] = field(default_factory=lambda: [16, 32, 64])
    seeds: list[int] = field(default_factory=lambda: [0])
    supervised_only: bool = False
    method_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    training_kwargs: dict[str, Any] = field(default_factory=dict)
    epoch_candidates: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.epoch_candidates:
            check_epoch_candidates(self.epoch_candidates)
        owned = sorted(set(self.training_kwargs) & {"method", "bits", "seed", "output_dir", "dataset"})
        if owned:
            raise ValueError(f"training_kwargs may not set {owned}: a benchmark sets them per run "
                             "(methods, bits, seeds, output_dir, dataset).")
        self.base  # unknown or bad training settings fail here, before any run

    @property
    def base(self) -> HashTrainingArguments:
        """The training arguments every run starts from (method, bits, seed and folder are set per run)."""
        try:
            return HashTrainingArguments(method="-", output_dir="-", dataset=self.dataset, **self.training_kwargs)
        except TypeError as err:
            raise ValueError(f"Unknown training setting in the benchmark settings: {err}") from None

    @property
    def protocol(self) -> str:
        return self.base.protocol

    @property
    def checkpoint(self) -> str:
        """How the evaluated checkpoint was chosen, in words (recorded with the results)."""
        if not self.epoch_candidates:
            return "last epoch"
        return (f"last epoch; epochs per method chosen from {sorted(self.epoch_candidates)} on "
                f"{validation_protocol(self.protocol)} (seed {self.seeds[0]}, {self.selection_bits} bits)")

    @property
    def selection_bits(self) -> int:
        """The code length the epoch count is chosen at: the middle one of ``bits``."""
        return sorted(self.bits)[len(self.bits) // 2]

    def resolved_methods(self) -> list[str]:
        """The method names to run: ``all`` expands to every registered method (supervised ones if asked)."""
        names = list_methods() if "all" in self.methods else list(self.methods)
        for name in names:
            get_method(name)
        if self.supervised_only:
            names = [n for n in names if get_method(n)[1].uses_labels]
        return names


def _training_args(
    settings: BenchSettings, method: str, bits: int, seed: int, epochs: int, run_dir: Path
) -> HashTrainingArguments:
    return dataclasses.replace(
        settings.base,
        method=method,
        output_dir=str(run_dir),
        bits=bits,
        epochs=epochs,
        seed=seed,
        method_kwargs={**settings.base.method_kwargs, **settings.method_kwargs.get(method, {})},
        overwrite_output_dir=True,
        resume=False,
    )


def _epochs_for(settings: BenchSettings, method: str) -> dict[str, Any]:
    """``{"epochs": ...}`` of ``method``: the fixed count, or the one chosen on validation (reused when a
    selection with the same settings is saved in ``<output_dir>/selection``)."""
    if not settings.epoch_candidates:
        return {"epochs": settings.base.epochs}
    run_dir = Path(settings.output_dir) / "selection" / method
    longest = max(settings.epoch_candidates)
    args = _training_args(settings, method, settings.selection_bits, settings.seeds[0], longest, run_dir)
    saved = run_dir / SELECTION_FILE
    candidates = sorted(settings.epoch_candidates)
    if saved.is_file():
        selection = json.loads(saved.read_text())
        if selection.get("candidates") == candidates and not _differs(selection.get("training_args", {}), args):
            return selection
    selection = {"training_args": args.to_dict(), "candidates": candidates,
                 **choose_epochs_on_validation(args, settings.epoch_candidates)}
    atomic_write_text(saved, json.dumps(selection, indent=2))
    return selection


def _run_one(settings: BenchSettings, method: str, bits: int, seed: int, epochs: int) -> dict[str, Any]:
    run_dir = Path(settings.output_dir) / "runs" / f"{method}-{bits}bit-seed{seed}"
    # only the last epoch checkpoint is kept: a benchmark restarts an unfinished run rather than resuming it
    args = dataclasses.replace(_training_args(settings, method, bits, seed, epochs, run_dir), save_total_limit=1)
    started = time.perf_counter()
    metrics, results = _finished_run(run_dir, args) or (train(args), None)
    if results is None:
        results = evaluate_run(run_dir)
        write_model_card(run_dir, results=results)
    return {
        "method": method,
        "bits": bits,
        "seed": seed,
        "epochs": epochs,
        "map_i2t": results["map_i2t"],
        "map_t2i": results["map_t2i"],
        "chance": results["chance_i2t"],
        "train_seconds": metrics["train_seconds"],
        "train_items_per_second": metrics["train_items_per_second"],
        "wall_seconds": round(time.perf_counter() - started, 2),
        "pr_curves": {DIRECTIONS[d]: r["pr_curve"] for d, r in results["reports"].items()},
    }


def _differs(recorded: dict[str, Any], args: HashTrainingArguments) -> bool:
    """Whether a run recorded with ``recorded`` settings would train a different model than ``args``."""
    return any(recorded.get(k) != v for k, v in args.to_dict().items() if k not in SETTINGS_WITHOUT_EFFECT)


def _finished_run(run_dir: Path, args: HashTrainingArguments) -> tuple[dict, dict] | None:
    """The metrics and results of a run already finished with exactly these settings (so a benchmark resumes)."""
    files = [run_dir / name for name in ("training_args.json", "train_results.json", "results.json")]
    if not all(f.is_file() for f in files):
        return None
    recorded = json.loads(files[0].read_text())
    if _differs(recorded, args):
        return None
    return json.loads(files[1].read_text()), json.loads(files[2].read_text())


def aggregate(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean and (population) standard deviation over seeds of each (method, bits).

    Example:
        >>> aggregate([{"method": "m", "bits": 16, "map_i2t": 0.5, "map_t2i": 0.25, "chance": 0.1,
        ...             "train_items_per_second": 10.0},
        ...            {"method": "m", "bits": 16, "map_i2t": 0.7, "map_t2i": 0.25, "chance": 0.1,
        ...             "train_items_per_second": 30.0}])[0]["map_i2t"]
        {'mean': 0.6, 'std': 0.1, 'n': 2}
    """
    groups: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["bits"]), []).append(row)
    summary = []
    for (method, bits), group in groups.items():
        entry: dict[str, Any] = {"method": method, "bits": bits}
        for key in ("map_i2t", "map_t2i", "chance", "train_items_per_second"):
            values = [r[key] for r in group]
            entry[key] = {"mean": round(statistics.fmean(values), 6), "std": round(statistics.pstdev(values), 6), "n": len(values)}
        summary.append(entry)
    return summary


def markdown_table(summary: list[dict[str, Any]], bits: list[int], reference: dict[str, dict[str, float]] | None = None) -> str:
    """One row per method, a column per (direction, bits): ``mean ± std``; optional reference rows first."""
    columns = [(d, b) for d in ("i2t", "t2i") for b in bits]
    header = "| method | " + " | ".join(f"{DIRECTIONS[d]} {b} bits" for d, b in columns) + " |"
    lines = [header, "|---|" + "---|" * len(columns)]
    for name, values in (reference or {}).items():
        cells = [f"{values[f'{d}{b}']:.3f}" if f"{d}{b}" in values else "–" for d, b in columns]
        lines.append(f"| {name} (reference) | " + " | ".join(cells) + " |")
    by_key = {(row["method"], row["bits"]): row for row in summary}
    for method in dict.fromkeys(row["method"] for row in summary):
        cells = []
        for direction, b in columns:
            row = by_key.get((method, b))
            stat = row[f"map_{direction}"] if row else None
            cells.append(f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat else "–")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_benchmark(settings: BenchSettings, reference: dict[str, dict[str, float]] | None = None) -> dict[str, Any]:
    """Run every (method, bits, seed), then write ``results.json``, ``results.md`` and ``pr_curves.png``
    together; the output folder is locked meanwhile (a second benchmark there stops at once)."""
    with folder_lock(settings.output_dir, "cmhash bench"):
        return _run_benchmark(settings, reference)


def _run_benchmark(settings: BenchSettings, reference: dict[str, dict[str, float]] | None) -> dict[str, Any]:
    out = Path(settings.output_dir)
    methods = settings.resolved_methods()
    selections = {method: _epochs_for(settings, method) for method in methods}
    rows = [
        _run_one(settings, method, bits, seed, selections[method]["epochs"])
        for method in methods
        for bits in settings.bits
        for seed in settings.seeds
    ]
    summary = aggregate(rows)
    table = markdown_table(summary, settings.bits, reference)
    training = {k: v for k, v in settings.base.to_dict().items() if k not in ("method", "output_dir", "bits", "seed")}
    report = {"settings": {**dataclasses.asdict(settings), "training": training, "checkpoint": settings.checkpoint},
              "epochs_chosen": {m: {k: v for k, v in sel.items() if k != "training_args"}
                                for m, sel in selections.items()},
              "reference": reference or {}, "summary": summary,
              "runs": [{k: v for k, v in r.items() if k != "pr_curves"} for r in rows]}
    widest = max(settings.bits)
    curves = {f"{r['method']} {name}": {"pr_curve": curve} for r in rows if r["bits"] == widest and r["seed"] == settings.seeds[0]
              for name, curve in r["pr_curves"].items()}
    with staged_files(out) as staging:
        atomic_write_text(staging / "results.json", json.dumps(report, indent=2))
        atomic_write_text(staging / "results.md", table + "\n")
        plot_pr_curve(curves, staging / "pr_curves.png",
                      title=f"{settings.dataset} · {widest} bits · seed {settings.seeds[0]}")
    return report
