"""The one table the model tests run over: a row per registered method.

A new method is tested by adding its row: the config overrides that make it tiny, if any.
"""

from __future__ import annotations

from typing import Any

import torch

from cmhash_hf import AutoConfig, CrossModalHashModel

NUM_CLASSES = 5
HASH_BITS = 16
BATCH = 4

#: method name -> config overrides for a tiny test model.
METHOD_CASES: dict[str, dict[str, Any]] = {
    "cdhtk": {},
    "dbrc": {"shared_dim": 32, "decoder_hidden_dim": 32},
    "dcmh": {},
    "dcph": {"proxy_hidden_dim": 64},
    "dfah": {},
    "drh": {},
    "dth": {},
    "gancmh": {},
}


def tiny_config(method: str, **overrides: Any):
    kwargs = {"hash_bits": HASH_BITS, "num_classes": NUM_CLASSES, **METHOD_CASES[method], **overrides}
    return AutoConfig.for_model(method, **kwargs)


def tiny_model(method: str, **overrides: Any):
    torch.manual_seed(0)
    return CrossModalHashModel.from_config(tiny_config(method, **overrides))


def tiny_batch(seed: int = 0) -> dict[str, torch.Tensor]:
    """Pixels for the default tiny ViT, token ids for the default tiny BERT, and multi-hot labels."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.zeros(BATCH, NUM_CLASSES)
    labels[torch.arange(BATCH), torch.tensor([0, 1, 0, 2])] = 1.0
    labels[3, 4] = 1.0
    return {
        "pixel_values": torch.randn(BATCH, 3, 32, 32, generator=generator),
        "input_ids": torch.randint(5, 1000, (BATCH, 9), generator=generator),
        "attention_mask": torch.ones(BATCH, 9, dtype=torch.long),
        "labels": labels,
    }
