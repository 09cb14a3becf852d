"""`TrainingBatch`: everything one training step's loss may read, in one object (the method contract).

``forward`` builds one per call and hands it to the method's ``compute_loss(step, batch)``. It carries:

- ``image_embeds`` / ``text_embeds``: the continuous outputs in (-1, 1) of the towers that ran (None for a tower
  the step does not run, or without inputs);
- ``image_tower_outputs`` / ``text_tower_outputs``: the towers' features before the hash layer (what the hash
  layer, or a method's extra network such as CDHTK's transfer network, reads);
- ``labels`` (multi-hot, float), ``sample_index`` (positions of the items in the training set) and ``state``
  (the per-item training state of `init_training_state`, e.g. `cmhash_hf.item_state.ItemCodeState`);
- ``inputs``: the processed inputs the model was called with (``pixel_values``, ``input_ids``, ...), for methods
  whose loss reads them (DBRC reconstructs them).

A method declares what its steps need (`CrossModalHashPreTrainedModel.required_inputs`, names of the fields
above); the base class checks the batch before ``compute_loss`` runs and raises one `ValueError` naming the
method, the step and what is missing (`missing_inputs_message`), so no method repeats None-checks.

Example:
    >>> import torch
    >>> image = torch.tensor([[0.5, -0.5]], requires_grad=True)
    >>> batch = TrainingBatch(image_embeds=image, text_embeds=torch.tensor([[0.25, 0.75]], requires_grad=True))
    >>> batch.own("image").tolist(), batch.other("image").tolist(), batch.other("image").requires_grad
    ([[0.5, -0.5]], [[0.25, 0.75]], False)
    >>> batch.missing(("image_embeds", "labels"))
    ['labels']
    >>> missing_inputs_message("DCMHModel", "image", ["labels", "sample_index"])
    "DCMHModel's 'image' step needs labels and sample_index (the positions of the batch in the training set) in the batch."
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

MODALITIES = ("image", "text")

#: How an error names each field of a `TrainingBatch` that a step needs and the batch lacks.
INPUT_DESCRIPTIONS = {
    "image_embeds": "image inputs",
    "text_embeds": "text inputs",
    "image_tower_outputs": "image inputs",
    "text_tower_outputs": "text inputs",
    "labels": "labels",
    "sample_index": "sample_index (the positions of the batch in the training set)",
    "state": "a training state (from init_training_state)",
    "inputs": "the processed inputs",
}


def missing_inputs_message(method: str, step: str, missing: Iterable[str]) -> str:
    """The one error message for a step whose batch lacks what the method declared it needs."""
    described = list(dict.fromkeys(INPUT_DESCRIPTIONS.get(name, name) for name in missing))
    listed = described[0] if len(described) == 1 else ", ".join(described[:-1]) + " and " + described[-1]
    return f"{method}'s {step!r} step needs {listed} in the batch."


@dataclass
class TrainingBatch:
    """What a training step's loss reads; see the module docstring for each field."""

    image_embeds: torch.Tensor | None = None
    text_embeds: torch.Tensor | None = None
    labels: torch.Tensor | None = None
    sample_index: torch.Tensor | None = None
    state: nn.Module | None = None
    image_tower_outputs: torch.Tensor | None = None
    text_tower_outputs: torch.Tensor | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    def embeds(self, modality: str) -> torch.Tensor | None:
        """The continuous outputs of ``modality`` (``"image"`` or ``"text"``)."""
        return self.image_embeds if modality == "image" else self.text_embeds

    def tower_outputs(self, modality: str) -> torch.Tensor | None:
        """The tower features of ``modality`` before its hash layer."""
        return self.image_tower_outputs if modality == "image" else self.text_tower_outputs

    def own(self, step: str) -> torch.Tensor:
        """For an ``"image"`` or ``"text"`` step: that modality's outputs, as float (gradients flow)."""
        return self.embeds(step).float()

    def other(self, step: str) -> torch.Tensor | None:
        """For an ``"image"`` or ``"text"`` step: the other modality's outputs, detached, as float (or None)."""
        other = self.embeds("text" if step == "image" else "image")
        return None if other is None else other.detach().float()

    def missing(self, names: Iterable[str]) -> list[str]:
        """The fields among ``names`` that this batch does not have (None, or an empty ``inputs``)."""
        return [name for name in names if getattr(self, name) is None or (name == "inputs" and not self.inputs)]
