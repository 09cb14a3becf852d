"""DCPH: Deep Cross-Modal Proxy Hashing (Rong-Cheng Tu et al., IEEE TKDE 2023; arXiv 2011.03451 as DCHML).

What is implemented (from the paper and the description of its public code, re-written here):

- Stage 1 (step ``"proxy"``): a proxy network maps each class's one-hot vector to a proxy code,
  one-hot → Linear(C→4096) → ReLU → BatchNorm → Linear(4096→K) → tanh, then sign. It is trained so that proxies
  of different classes are far apart (positive inner products between different proxies are penalised), with
  quantisation and bit-balance terms (`proxy_network_loss`). The proxies are then fixed: they are stored in the
  persistent buffer ``proxy_network.codes``, so they are saved with the checkpoint and restored bit-exactly.
- Stage 2 (steps ``"image"`` and ``"text"``, alternating as in the paper): each modality's net is trained with
  the margin-dynamic-softmax loss against the fixed proxies P (`margin_dynamic_softmax_loss`: positive score =
  mean logit over the item's own labels, negatives = the classes it does not have), in the normalised form
  (s = uᵀp / K, γ = 20, σ = 0.2, the default) or the raw form of the public code (s = uᵀp, γ = 0.3, σ = 0.3·K);
  plus 0.1 × the cross-modal term and 0.1 × the unified-code quantisation term ‖B − u‖², B = sign(B_img + B_txt).
- Both stages run in one ``cmhash train --method dcph`` run: `steps_for_epoch` gives the first epochs
  (``config.proxy_epochs``) to the proxy step and the rest to the image and text steps.

Our reading where the paper leaves room:

- The cross-modal term is "the same loss with the other modality's current codes": the other modality's codes
  of the batch items (sign of its outputs recorded in the training state) take the place of the proxies; item j
  is a positive of item i when they share a label, and the positive score is the mean over those positives.
- B = sign(B_img + B_txt) is a tie where the two modalities disagree; we break ties by the sign of F + G (the
  continuous outputs), which makes B = sign(F + G). F and G start as Gaussian noise (seeded), B is updated after
  every epoch, like DCMH's B-step. The quantisation term is the per-item squared distance, averaged over the batch.
- The proxy network's BatchNorm always normalises over the C class rows (no running statistics), so the proxy
  codes are one deterministic function of the network's weights in training and evaluation mode alike.
- The proxies are fixed from the proxy network at the first stage-2 step (`update_training_state`), i.e. after
  the last proxy epoch; before they are fixed, the losses use the proxy network's current codes (detached).
  A zero ``codes`` buffer means "not fixed yet" (real proxy codes are ±1).
- Stage-1 loss weights, the proxy-stage length and Adam (the trainer's optimiser) are our choices; the paper
  trains with SGD. Items without any label give no margin-dynamic-softmax term (they have no positive).
- The public code also adds a constant 1 per positive class to the softmax denominator; that is an artefact
  and is not reproduced.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init

from ...item_state import ItemCodeState
from ...modeling_utils import CrossModalHashPreTrainedModel, binarize
from ...training_batch import TrainingBatch
from .configuration_dcph import DCPHConfig
from .losses_dcph import margin_dynamic_softmax_loss, proxy_network_loss


class ProxyNetwork(nn.Module):
    """One-hot label → Linear(C→H) → ReLU → BatchNorm → Linear(H→K) → tanh, plus the fixed proxy ``codes`` (C, K).

    Example:
        >>> net = ProxyNetwork(num_classes=3, hidden_dim=8, hash_bits=4)
        >>> net().shape, bool(net.is_fixed)
        (torch.Size([3, 4]), False)
    """

    def __init__(self, num_classes: int, hidden_dim: int, hash_bits: int) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(num_classes, hidden_dim),
            nn.ReLU(),
            nn.BatchNorm1d(hidden_dim, track_running_stats=False),
            nn.Linear(hidden_dim, hash_bits),
            nn.Tanh(),
        )
        self.register_buffer("codes", torch.zeros(num_classes, hash_bits), persistent=True)

    def forward(self) -> torch.Tensor:
        """The continuous proxies h (C, K) in (−1, 1): the network applied to every class's one-hot vector."""
        first = self.layers[0]
        return self.layers(torch.eye(first.in_features, device=first.weight.device, dtype=first.weight.dtype))

    @property
    def is_fixed(self) -> bool:
        """Whether the proxy codes have been fixed (the buffer holds ±1, never 0, once they are)."""
        return bool(self.codes.abs().sum() > 0)

    @torch.no_grad()
    def fix(self) -> None:
        """Store sign(h) as the fixed proxy codes."""
        self.codes.copy_(binarize(self()).to(self.codes.dtype))

    def proxies(self) -> torch.Tensor:
        """The proxy codes P (C, K) in {−1, +1}: the fixed ones, or the network's current signs until fixed."""
        if self.is_fixed:
            return self.codes
        with torch.no_grad():
            return binarize(self()).to(self.codes.dtype)


class DCPHModel(CrossModalHashPreTrainedModel):
    """DCPH (TKDE 2023): a proxy network's codes supervise both modality nets through a margin-dynamic-softmax loss.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> model = DCPHModel(DCPHConfig(hash_bits=8, num_classes=3, proxy_hidden_dim=16))
        >>> model.steps_for_epoch(0, 10), model.steps_for_epoch(5, 10)
        (('proxy',), ('image', 'text'))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> out = model(**batch, labels=torch.tensor([[1.0, 0, 0], [0, 1, 1]]))
        >>> out.text_codes.shape, out.loss.dim()
        (torch.Size([2, 8]), 0)
    """

    config_class = DCPHConfig
    training_steps = ("proxy", "image", "text")

    def __init__(self, config: DCPHConfig) -> None:
        super().__init__(config)
        self.step_schedule = config.alternate_by
        self.proxy_network = (
            ProxyNetwork(config.num_classes, config.proxy_hidden_dim, config.hash_bits) if config.num_classes else None
        )
        self.post_init()

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, ProxyNetwork):
            init.zeros_(module.codes)

    def _proxy_network(self) -> ProxyNetwork:
        if self.proxy_network is None:
            raise ValueError("DCPH needs the number of classes (config.num_classes or label_names) for its proxies.")
        return self.proxy_network

    @property
    def proxies(self) -> torch.Tensor:
        """The proxy codes (num_classes, hash_bits) in {−1, +1} (see `ProxyNetwork.proxies`)."""
        return self._proxy_network().proxies()

    # ----------------------------------------------------------------- training protocol
    def steps_for_epoch(self, epoch: int, num_epochs: int) -> tuple[str, ...]:
        if num_epochs == 1:
            return self.training_steps
        return ("proxy",) if epoch < self.config.num_proxy_epochs(num_epochs) else ("image", "text")

    def modalities_for_step(self, step: str) -> set[str]:
        return set() if step == "proxy" else {step}

    def step_parameters(self, step: str) -> list[nn.Parameter]:
        if step == "proxy":
            return list(self._proxy_network().parameters())
        return self.tower_parameters(step)

    def init_training_state(self, train_labels, num_items, generator=None) -> ItemCodeState:
        """F and G as Gaussian noise from ``generator`` and B = sign(F + G) (the labels are not needed)."""
        if train_labels is None:
            raise ValueError("DCPH is supervised: it needs the labels of the training set.")
        return ItemCodeState(num_items, self.config.hash_bits, generator=generator).to(self.device)

    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """The proxy step reads no batch; a modality step its own outputs (and the other's without state)."""
        if step == "proxy":
            return ()
        return ("image_embeds", "text_embeds") if batch.state is None else (f"{step}_embeds",)

    def _softmax_loss(self, outputs: torch.Tensor, targets: torch.Tensor, positives: torch.Tensor) -> torch.Tensor:
        bits = self.config.hash_bits
        if self.config.loss_form == "normalized":
            return margin_dynamic_softmax_loss(
                outputs @ targets.T / bits, positives, self.config.softmax_scale, self.config.softmax_margin
            )
        margin = self.config.raw_softmax_margin_per_bit * bits
        return margin_dynamic_softmax_loss(outputs @ targets.T, positives, self.config.raw_softmax_scale, margin)

    def compute_loss(self, step: str, batch: TrainingBatch):
        if step == "proxy":
            network = self._proxy_network()
            return proxy_network_loss(network(), self.config.proxy_quantization_weight, self.config.proxy_balance_weight)
        outputs, other, labels = batch.own(step), batch.other(step), batch.labels
        if batch.state is None:
            # Standalone use: the other modality's batch outputs stand in for the recorded ones.
            other_codes = binarize(other).float()
            codes = binarize(outputs.detach() + other).float()
        else:
            recorded = batch.state.outputs("text" if step == "image" else "image")
            other_codes = binarize(recorded[batch.sample_index]).float()
            codes = batch.state.codes[batch.sample_index]
        proxy_term = self._softmax_loss(outputs, self.proxies, labels)
        cross_term = self._softmax_loss(outputs, other_codes, (labels @ labels.T > 0).float())
        quantization = ((codes - outputs) ** 2).sum(1).mean()
        total = proxy_term + self.config.cross_modal_weight * cross_term + self.config.quantization_weight * quantization
        parts = {"proxy": proxy_term.detach(), "cross_modal": cross_term.detach(), "quantization": quantization.detach()}
        return total, parts

    def update_training_state(self, state, step, image_embeds, text_embeds, sample_index):
        if step == "proxy":
            return
        network = self._proxy_network()
        if not network.is_fixed:
            network.fix()
        state.record(step, sample_index, image_embeds if step == "image" else text_embeds)

    def on_epoch_end(self, state, epoch):
        state.update_codes()  # B = sign(F + G): see "Our reading" for why this is sign(B_img + B_txt)
