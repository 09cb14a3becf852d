"""Optimisers and schedules as the CLIP-era hashing code bases set them up: a small learning rate for pretrained
encoders, a larger one for everything else, warm-up then constant / linear / cosine decay.

Each training step of a method keeps its own AdamW (`param_groups` splits that step's parameters into an
``encoder`` and a ``heads`` group, plus any group the model asks for, e.g. DBRC's ``scales``) and its own
schedule (`build_scheduler`), whose length is the number of optimiser updates that step gets over the run
(`optimizer_updates`).

Example:
    >>> import torch
    >>> layer = torch.nn.Linear(2, 1)
    >>> optimizer = torch.optim.AdamW(layer.parameters(), lr=1.0)
    >>> scheduler = build_scheduler(optimizer, "linear", warmup_ratio=0.2, total_updates=10)
    >>> lrs = []
    >>> for _ in range(10):
    ...     lrs.append(round(optimizer.param_groups[0]["lr"], 4))
    ...     optimizer.step(); scheduler.step()
    >>> lrs  # warm-up over ceil(0.2 * 10) = 2 updates, then linear decay to 0 at update 10
    [0.0, 0.5, 1.0, 0.875, 0.75, 0.625, 0.5, 0.375, 0.25, 0.125]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn
from transformers import get_scheduler


def param_groups(
    model: nn.Module,
    parameters: list[nn.Parameter],
    learning_rate: float,
    encoder_learning_rate: float | None,
    weight_decay: float,
) -> list[dict[str, Any]]:
    """Split one step's ``parameters`` into the ``encoder`` group (parameters of the model's `encoder_towers`,
    at ``encoder_learning_rate``, default ``learning_rate``), the groups the model asks for
    (`CrossModalHashPreTrainedModel.own_param_groups`: their own name, learning rate and weight decay, holding
    those of their parameters that are in ``parameters``) and the ``heads`` group (everything else); empty
    groups are left out.

    Example:
        >>> from cmhash_hf import CrossModalHashModel
        >>> from cmhash_hf.encoders.specs import default_image_encoder_spec
        >>> vit = dict(default_image_encoder_spec(), name_or_path="a-pretrained-vit")  # as if loaded pretrained
        >>> model = CrossModalHashModel.for_method("dcmh", hash_bits=8, image_encoder=vit)  # + a random tiny BERT
        >>> groups = param_groups(model, list(model.parameters()), 1e-3, 1e-5, 0.0)
        >>> [(g["name"], g["lr"], len(g["params"]) == len(list(model.image_tower.parameters()))) for g in groups]
        [('encoder', 1e-05, True), ('heads', 0.001, False)]
    """
    wanted = {id(p) for p in parameters}
    own = [
        {**group, "params": [p for p in group["params"] if id(p) in wanted]} for group in model.own_param_groups()
    ]
    taken = {id(p) for group in own for p in group["params"]}
    encoder_ids = {id(p) for tower in model.encoder_towers().values() for p in tower.parameters()}
    encoder = [p for p in parameters if id(p) in encoder_ids and id(p) not in taken]
    heads = [p for p in parameters if id(p) not in encoder_ids and id(p) not in taken]
    encoder_lr = learning_rate if encoder_learning_rate is None else encoder_learning_rate
    groups = [
        {"params": encoder, "lr": encoder_lr, "weight_decay": weight_decay, "name": "encoder"},
        {"params": heads, "lr": learning_rate, "weight_decay": weight_decay, "name": "heads"},
        *own,
    ]
    return [group for group in groups if group["params"]]


def optimizer_updates(
    passes_per_epoch: list[list[tuple[str, ...]]], batches_per_pass: int, accumulation_steps: int
) -> dict[str, int]:
    """How many optimiser updates each step gets over a run: one per ``accumulation_steps`` batches (and one at
    the end of each pass) in every pass that runs the step.

    Args:
        passes_per_epoch: for each epoch, its passes over the data, each the tuple of steps it runs.

    Example:
        >>> optimizer_updates([[("image",), ("text",)], [("text",)]], batches_per_pass=5, accumulation_steps=2)
        {'image': 3, 'text': 6}
    """
    per_pass = math.ceil(batches_per_pass / accumulation_steps)
    counts: dict[str, int] = {}
    for passes in passes_per_epoch:
        for steps in passes:
            for step in steps:
                counts[step] = counts.get(step, 0) + per_pass
    return counts


def build_scheduler(
    optimizer: torch.optim.Optimizer, name: str, warmup_ratio: float, total_updates: int
) -> torch.optim.lr_scheduler.LRScheduler:
    """`transformers.get_scheduler` over ``total_updates`` updates with ``ceil(warmup_ratio * total_updates)``
    warm-up updates (``constant`` with a warm-up is transformers' ``constant_with_warmup``)."""
    warmup = math.ceil(warmup_ratio * total_updates)
    if name == "constant":
        name = "constant_with_warmup" if warmup else "constant"
    return get_scheduler(name, optimizer, num_warmup_steps=warmup, num_training_steps=max(total_updates, 1))
