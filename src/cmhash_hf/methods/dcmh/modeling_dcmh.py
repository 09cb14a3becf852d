"""DCMH: Deep Cross-Modal Hashing (Qing-Yuan Jiang and Wu-Jun Li, CVPR 2017).

What is implemented (from the paper and its public reference code, re-written here):

- Pairwise similarity S_ij = 1 when items i and j share at least one label.
- With F the image net outputs and G the text net outputs over the whole training set, and Θ_ij = ½ F_iᵀ G_j,
  the objective is −Σ (S_ij Θ_ij − log(1 + e^{Θ_ij})) + γ(‖B − F‖² + ‖B − G‖²) + η(‖F·1‖² + ‖G·1‖²).
- Alternating optimisation: the image net is updated with G fixed (step ``"image"``), the text net with F fixed
  (step ``"text"``), and after each epoch B = sign(γ(F + G)) over the training set. F, G and B are per-item
  state (`cmhash_hf.item_state.ItemCodeState`), saved with every training checkpoint so a run resumes exactly.

Our reading where the paper leaves room: the hash layer ends in tanh (as in most re-implementations; the paper's
last layer is linear), so Θ stays bounded; the loss is divided by (N · batch) like the reference code; F and G
start as standard Gaussian noise like the reference code, drawn from the run's seed; the bit-balance term estimates F·1 from the current
batch (see `dcmh_loss` for why). Called without training state (e.g. ``model(**batch,
labels=labels)``), the loss uses the batch as the whole "training set", which keeps it usable outside the trainer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...item_state import ItemCodeState, sign_codes
from ...modeling_utils import CrossModalHashPreTrainedModel
from ...training_batch import TrainingBatch
from .configuration_dcmh import DCMHConfig


def dcmh_loss(
    outputs: torch.Tensor,
    other_outputs: torch.Tensor,
    batch_labels: torch.Tensor,
    all_labels: torch.Tensor,
    batch_codes: torch.Tensor,
    quantization_weight: float,
    balance_weight: float,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """DCMH loss of one modality's batch against the other modality's outputs for all N training items.

    Args:
        outputs: (b, K) this modality's outputs for the batch (F_batch when training the image net).
        other_outputs: (N, K) the other modality's outputs for every training item (G).
        batch_labels: (b, C) multi-hot labels of the batch; all_labels: (N, C) of every training item.
        batch_codes: (b, K) the current binary codes B of the batch items.
        quantization_weight, balance_weight: γ and η, the weights of the quantisation and bit-balance terms.

    The bit-balance term ‖F·1‖² needs F·1 over all N items. We estimate it from the current batch,
    F·1 ≈ (N / b) Σ_batch f, and use (N / b) ‖Σ_batch f‖², whose gradient with respect to each batch output is
    2 (N / b) Σ_batch f: the paper's gradient 2 F·1 under that estimate (exact when the batch is the whole set).
    The reference code sums the stored rows of earlier batches instead; that sum lags a whole pass behind the
    network, and with Adam it swung every code to one sign in our runs (mAP at chance on builtin:shapes).

    Returns:
        The scalar loss divided by N · b, and its three parts (undivided, detached).

    Example:
        >>> f = torch.tensor([[1.0, -1.0]]); g = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])
        >>> y = torch.tensor([[1.0, 0.0]]); ys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> loss, parts = dcmh_loss(f, g, y, ys, f.sign(), 1.0, 1.0)
        >>> round(parts["likelihood"].item(), 4)  # softplus(1) - 1 + softplus(-1)
        0.6265
    """
    similarity = (batch_labels @ all_labels.T > 0).to(outputs.dtype)
    theta = 0.5 * outputs @ other_outputs.T
    likelihood = -(similarity * theta - F.softplus(theta)).sum()
    quantization = ((batch_codes - outputs) ** 2).sum()
    num_items, batch_size = other_outputs.shape[0], outputs.shape[0]
    balance = (num_items / batch_size) * (outputs.sum(0) ** 2).sum()
    total = (likelihood + quantization_weight * quantization + balance_weight * balance) / (num_items * batch_size)
    parts = {"likelihood": likelihood.detach(), "quantization": quantization.detach(), "balance": balance.detach()}
    return total, parts


class DCMHModel(CrossModalHashPreTrainedModel):
    """DCMH (CVPR 2017): pairwise negative log-likelihood with a shared binary code matrix B.

    See the module docstring for what is implemented and where we chose. Train it with ``cmhash train --method
    dcmh`` or any loop that follows the training protocol of `CrossModalHashPreTrainedModel`.

    Example:
        >>> import torch
        >>> from cmhash_hf import DCMHConfig
        >>> model = DCMHModel(DCMHConfig(hash_bits=8, num_classes=3))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> out = model(**batch, labels=torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
        >>> out.image_codes.shape, out.loss.dim()
        (torch.Size([2, 8]), 0)
    """

    config_class = DCMHConfig
    training_steps = ("image", "text")

    def __init__(self, config: DCMHConfig) -> None:
        super().__init__(config)
        self.step_schedule = config.alternate_by
        self.post_init()

    def modalities_for_step(self, step: str) -> set[str]:
        return {step}

    def step_parameters(self, step: str) -> list[nn.Parameter]:
        return self.tower_parameters(step)

    def init_training_state(self, train_labels, num_items, generator=None) -> ItemCodeState:
        """F and G as Gaussian noise from ``generator``, B = sign(F + G), and the training labels."""
        return ItemCodeState(num_items, self.config.hash_bits, labels=train_labels, generator=generator).to(self.device)

    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """The step's own modality; without training state also the other one (the batch is the training set)."""
        if batch.state is None:
            return ("image_embeds", "text_embeds")
        return (f"{step}_embeds",)

    def compute_loss(self, step: str, batch: TrainingBatch):
        config, outputs, other = self.config, batch.own(step), batch.other(step)
        if batch.state is None:
            # Standalone use: the batch is the training set; the other modality's outputs are held fixed.
            codes = sign_codes(outputs.detach() + other)
            return dcmh_loss(outputs, other, batch.labels, batch.labels, codes, config.quantization_weight,
                             config.balance_weight)
        state = batch.state
        return dcmh_loss(
            outputs,
            state.outputs("text" if step == "image" else "image"),
            batch.labels,
            state.labels,
            state.codes[batch.sample_index],
            config.quantization_weight,
            config.balance_weight,
        )

    def update_training_state(self, state, step, image_embeds, text_embeds, sample_index):
        state.record(step, sample_index, image_embeds if step == "image" else text_embeds)

    def on_epoch_end(self, state, epoch):
        weight = self.config.quantization_weight
        state.update_codes({"image": weight, "text": weight})
