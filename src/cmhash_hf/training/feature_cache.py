"""The feature cache of frozen encoders: each training item's backbone output, computed once and kept on disk.

With ``freeze_encoders`` the `transformers` backbones never change, so their output for an item is the same in
every epoch, every run and every benchmark seed. `cached_tower_outputs` computes it once per (encoder weights,
processor side, dataset fingerprint, training rows, precision) — the key — and stores it as
``<cache_dir>/<modality>-<key>.safetensors``; training then reads ``image_tower_outputs`` / ``text_tower_outputs``
from it (`CachedOutputsCollator`) and an epoch costs what the hash heads cost. Frozen towers run in eval mode
(no dropout), so the cached outputs are the ones the frozen tower would compute during training.

Example:
    >>> import torch
    >>> collate = CachedOutputsCollator(lambda rows: {"sample_index": torch.tensor([r["i"] for r in rows])},
    ...                                 {"image": torch.arange(6.0).reshape(3, 2)})
    >>> collate([{"i": 2}, {"i": 0}])["image_tower_outputs"].tolist()
    [[4.0, 5.0], [0.0, 1.0]]
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader

from ..data import CrossModalCollator, CrossModalDataset, IndexedRows

#: Environment variable naming the default cache folder.
CACHE_ENV = "CMHASH_FEATURE_CACHE"


def default_cache_dir() -> Path:
    """``$CMHASH_FEATURE_CACHE``, else ``~/.cache/cmhash_hf/features``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "cmhash_hf" / "features")


def processor_side(processor: Any, modality: str) -> str:
    """What of ``processor`` decides a modality's tower inputs, as a string (part of the cache key): the side's
    own `InputSide.identity`."""
    return processor.side(modality).identity()


def cache_key(tower: nn.Module, processor: Any, modality: str, data: CrossModalDataset, rows: np.ndarray,
              precision: str) -> str:
    """A hex digest of everything the cached outputs depend on: the tower's weights, the processor side, the
    dataset's fingerprint, the training rows and the mixed-precision setting."""
    digest = hashlib.sha256()
    for name, tensor in sorted(tower.state_dict().items()):
        digest.update(name.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    digest.update(processor_side(processor, modality).encode())
    digest.update(str(getattr(data.dataset, "_fingerprint", data.source)).encode())
    digest.update(np.asarray(rows, dtype=np.int64).tobytes())
    digest.update(precision.encode())
    return digest.hexdigest()[:32]


@torch.no_grad()
def compute_tower_outputs(
    model: Any, modality: str, rows: CrossModalDataset, processor: Any, batch_size: int,
    autocast: Callable[[], Any],
) -> torch.Tensor:
    """The (frozen, eval-mode) tower outputs of ``rows`` in order, float32 on the CPU."""
    collator = CrossModalCollator(processor, 0, skip=tuple({"image", "text"} - {modality}))
    loader = DataLoader(IndexedRows(rows, collator.columns), batch_size=batch_size, collate_fn=collator)
    tower = model.image_tower if modality == "image" else model.text_tower
    was_training = tower.training
    tower.eval()
    outputs = []
    try:
        for batch in loader:
            batch.pop("sample_index", None)
            with autocast():
                outputs.append(model._tower_features(modality, **batch).float().cpu())
    finally:
        tower.train(was_training)
    return torch.cat(outputs)


def cached_tower_outputs(
    model: Any, modality: str, data: CrossModalDataset, rows: np.ndarray, processor: Any, cache_dir: str | Path,
    batch_size: int, precision: str, autocast: Callable[[], Any],
) -> tuple[torch.Tensor, Path, bool]:
    """The outputs of ``model``'s ``modality`` tower for ``data``'s ``rows``: read from the cache, or computed and
    written there (atomically). Returns ``(outputs, file, was_cached)``."""
    tower = model.image_tower if modality == "image" else model.text_tower
    key = cache_key(tower, processor, modality, data, rows, precision)
    path = Path(cache_dir) / f"{modality}-{key}.safetensors"
    if path.is_file():
        return load_file(str(path))["outputs"], path, True
    outputs = compute_tower_outputs(model, modality, data.select(rows), processor, batch_size, autocast)
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    save_file({"outputs": outputs.contiguous()}, str(scratch))
    os.replace(scratch, path)
    return outputs, path, False


class CachedOutputsCollator:
    """Wraps a collator (that skips the cached modalities) and adds ``<modality>_tower_outputs`` rows by the
    batch's ``sample_index``."""

    def __init__(self, collator: Callable[[list[dict]], dict[str, torch.Tensor]], outputs: dict[str, torch.Tensor]):
        self.collator = collator
        self.outputs = outputs

    def __call__(self, rows: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collator(rows)
        for modality, table in self.outputs.items():
            batch[f"{modality}_tower_outputs"] = table[batch["sample_index"]]
        return batch
