"""PNG plots of retrieval reports (from :func:`~cmhash_hf.metrics.retrieval_report`): PR curve, precision@k, and
the mAP of each label (from :func:`~cmhash_hf.metrics.per_label_map`).

Figures are drawn with matplotlib's Agg canvas directly (no global backend switch, no display
needed) and written atomically.

Example:
    >>> import tempfile, pathlib
    >>> from cmhash_hf.metrics.report import retrieval_report
    >>> report = retrieval_report([[1, 1]], [[1, 1], [-1, -1]], [[1]], [[1], [0]], precision_k_values=[1, 2])
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> plot_pr_curve({"I→T": report, "T→I": report}, folder / "pr.png").stat().st_size > 0
    True
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..file_utils import atomic_write_bytes

__all__ = ["plot_pr_curve", "plot_precision_at_k", "plot_per_label_map"]


def _save(figure: Figure, path: str | os.PathLike) -> Path:
    """Render ``figure`` to PNG bytes and write them atomically to ``path``."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return atomic_write_bytes(path, buffer.getvalue())


def plot_pr_curve(reports: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, title: str | None = None) -> Path:
    """Plot precision against recall over Hamming radius 0..bits, one line per report (e.g. ``{"I→T": ..., "T→I": ...}``).

    Example:
        >>> import tempfile, pathlib
        >>> curve = {"pr_curve": {"radius": [0, 1], "precision": [1.0, 0.5], "recall": [0.5, 1.0]}}
        >>> plot_pr_curve({"I→T": curve}, pathlib.Path(tempfile.mkdtemp()) / "pr.png").suffix
        '.png'
    """
    figure = Figure(figsize=(5, 4))
    axes = figure.add_subplot()
    for name, report in reports.items():
        curve = report["pr_curve"]
        axes.plot(curve["recall"], curve["precision"], marker=".", label=name)
    axes.set_xlabel("recall")
    axes.set_ylabel("precision")
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title or "Precision–recall by Hamming radius")
    return _save(figure, path)


def plot_precision_at_k(
    reports: Mapping[str, Mapping[str, Any]], path: str | os.PathLike, title: str | None = None
) -> Path:
    """Plot precision@k against k (log scale), one line per report.

    Example:
        >>> import tempfile, pathlib
        >>> report = {"precision_at_k": {"1": 1.0, "10": 0.8, "100": 0.5}}
        >>> plot_precision_at_k({"T→I": report}, pathlib.Path(tempfile.mkdtemp()) / "p.png").suffix
        '.png'
    """
    figure = Figure(figsize=(5, 4))
    axes = figure.add_subplot()
    for name, report in reports.items():
        points = sorted((int(k), value) for k, value in report["precision_at_k"].items())
        axes.plot([k for k, _ in points], [value for _, value in points], marker="o", label=name)
    axes.set_xscale("log")
    axes.set_xlabel("k")
    axes.set_ylabel("precision@k")
    axes.set_ylim(0, 1.02)
    axes.grid(alpha=0.3)
    axes.legend()
    axes.set_title(title or "Precision of the top k")
    return _save(figure, path)


def plot_per_label_map(
    label_names: Sequence[str],
    maps: Mapping[str, Sequence[float]],
    chance: Sequence[float],
    path: str | os.PathLike,
    title: str | None = None,
) -> Path:
    """Bar plot of each label's mAP on its own, one bar per direction, a black tick at the label's chance level.

    ``maps`` maps a direction name to one mAP per label (NaN for a label no query has: no bar). The chance
    level is the same for both directions (it depends only on the labels).

    Example:
        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "per_label_map.png"
        >>> plot_per_label_map(["circle", "red"], {"I→T": [0.9, 0.5], "T→I": [0.8, 0.4]}, [0.3, 0.2], path).suffix
        '.png'
    """
    if any(len(values) != len(label_names) for values in [*maps.values(), chance]):
        raise ValueError(f"every mAP list and the chance list need one value per label ({len(label_names)} labels)")
    positions = np.arange(len(label_names))
    width = 0.8 / max(len(maps), 1)
    figure = Figure(figsize=(max(5.0, 0.42 * len(label_names) + 1.5), 4))
    axes = figure.add_subplot()
    for i, (name, values) in enumerate(maps.items()):
        axes.bar(positions - 0.4 + width * (i + 0.5), np.asarray(values, dtype=float), width, label=name)
    axes.scatter(positions, np.asarray(chance, dtype=float), marker="_", s=250, color="black", zorder=3, label="chance")
    axes.set_xticks(positions, list(label_names), rotation=60, ha="right")
    axes.set_ylabel("mAP@all (relevant = has the label)")
    axes.set_ylim(0, 1.02)
    axes.grid(axis="y", alpha=0.3)
    axes.legend(fontsize="small")
    axes.set_title(title or "mAP of each label on its own")
    return _save(figure, path)
