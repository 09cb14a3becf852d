"""DFAH: Discrete Fusion Adversarial Hashing.

What is implemented (from the method's description; there is no public reference code):

- Modality-specific extractors (image and text towers + hash layers) with continuous outputs U and V, trained
  with pairwise supervision: the pairwise negative log-likelihood L(U, V) of shared-label similarity over the
  batch (`cmhash_hf.losses.pairwise_likelihood_loss`).
- A fusion learner that embeds each pair into one unified output, Z = tanh(MLP([U; V])), trained with the same
  pairwise likelihood L(Z, Z) so the unified representation keeps the label structure.
- A modality discriminator trained adversarially against the extractors (step ``"discriminator"``: its own
  parameters, on detached outputs); the extractors add α · modality confusion to their loss so the image and text
  output distributions align.
- Unified binary codes B, one per training pair (per-item state `cmhash_hf.item_state.ItemCodeState` with the
  streams U, V and Z), that the extractors and
  the fusion learner are pulled onto: γ(‖B − U‖² + ‖B − V‖²) + μ‖B − Z‖², and that supervise the extractors
  pairwise over the whole training set: L(U, B) + L(V, B) with the label similarity of batch × training set.
  B is optimised discretely, without relaxation: for fixed U, V, Z the quantisation objective is minimised over
  B ∈ {−1, +1} by the closed form B = sign(γ(U + V) + μZ), applied to the whole training set after each epoch
  (with sign(0) = +1), so B is always exactly binary.

Our reading where the description leaves room: the fusion learner's "embedding strategy" is a concatenation
embedding of the pair's continuous codes; the discriminator sees the continuous codes; until the first discrete
step has run (end of epoch 1) there are no unified codes, so the terms that use B are off; the B-step keeps the
closed form of the quantisation part and leaves the pairwise term L(·, B) to the networks' steps (including it
would make the B-subproblem combinatorial). The fusion
learner and the discriminator are used in training only: a single image or text is encoded by its extractor
alone, whose outputs the quantisation terms tie to the unified codes. Called without training state (e.g.
``model(**batch, labels=labels)``), the codes are the discrete step applied to the batch.
``forward`` without a ``training_step`` returns the extractors' (``"hashing"``) loss.

Defaults at every code length (issue 13): ``unified_weight`` 0.1 and ``adversarial_weight`` 0.01. The former
defaults (1.0 / 0.1) collapsed 64-bit runs: on Wiki 0.268 / 0.238 (image→text / text→image mAP@all, 20 epochs,
seed 0). With the defaults, one seed, ``cmhash bench`` settings of benchmarks/wiki.py (Wiki, 20 epochs) and the
``cpu`` preset (``builtin:shapes``, 30 epochs):

=================  ==============  ==============  ==============  ==============
dataset            16 bits         32 bits         64 bits         128 bits
=================  ==============  ==============  ==============  ==============
Wiki               0.286 / 0.374   0.304 / 0.467   0.291 / 0.505   0.271 / 0.496
builtin:shapes     0.578 / 0.535   0.672 / 0.607   0.690 / 0.622   0.710 / 0.637
=================  ==============  ==============  ==============  ==============

(chance: about 0.10 on Wiki's 10 classes, 0.315 on builtin:shapes.)
"""

from __future__ import annotations

import torch
from torch import nn

from ...losses import label_similarity, pairwise_likelihood_loss, quantization_loss
from ...item_state import ItemCodeState
from ...modeling_utils import CrossModalHashPreTrainedModel, binarize
from ...training_batch import TrainingBatch
from ..adversarial import ModalityDiscriminator, discriminator_loss, modality_confusion_loss
from .configuration_dfah import DFAHConfig


def unified_codes(
    image_outputs: torch.Tensor,
    text_outputs: torch.Tensor,
    fused_outputs: torch.Tensor,
    quantization_weight: float,
    fusion_quantization_weight: float,
) -> torch.Tensor:
    """The discrete step: B = sign(γ(U + V) + μZ) with sign(0) = +1, as a float tensor of exact ±1 values.

    γ is ``quantization_weight`` and μ ``fusion_quantization_weight``.

    Example:
        >>> u, v = torch.tensor([[0.5, -0.5, 0.0]]), torch.tensor([[0.5, -0.1, 0.0]])
        >>> z = torch.tensor([[-0.2, 0.9, 0.0]])
        >>> unified_codes(u, v, z, quantization_weight=1.0, fusion_quantization_weight=1.0).tolist()
        [[1.0, 1.0, 1.0]]
    """
    gamma, mu = quantization_weight, fusion_quantization_weight
    return binarize(gamma * (image_outputs + text_outputs) + mu * fused_outputs).float()


class DFAHModel(CrossModalHashPreTrainedModel):
    """DFAH: pairwise-supervised extractors, a fusion learner, a modality discriminator and discrete unified codes.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> from cmhash_hf import DFAHConfig
        >>> model = DFAHModel(DFAHConfig(hash_bits=8, num_classes=3))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> state = model.init_training_state(torch.eye(3)[[0, 1, 2, 0, 1, 2, 0, 1, 2, 0]], num_items=10,
        ...                                   generator=torch.Generator().manual_seed(0))
        >>> out = model(**batch, labels=torch.eye(3)[:2], training_step="hashing", training_state=state,
        ...             sample_index=torch.tensor([4, 7]))
        >>> model.update_training_state(state, "hashing", out.image_embeds, out.text_embeds, torch.tensor([4, 7]))
        >>> model.on_epoch_end(state, epoch=0)
        >>> bool(((state.codes == 1) | (state.codes == -1)).all())
        True
    """

    config_class = DFAHConfig
    training_steps = ("discriminator", "hashing")
    step_schedule = "batch"

    def __init__(self, config: DFAHConfig) -> None:
        super().__init__(config)
        bits = config.hash_bits
        self.fusion = nn.Sequential(
            nn.Linear(2 * bits, config.fusion_hidden_dim),
            nn.ReLU(),
            nn.Linear(config.fusion_hidden_dim, bits),
            nn.Tanh(),
        )
        self.discriminator = ModalityDiscriminator(bits, config.discriminator_hidden_dim)
        self.post_init()

    def fuse(self, image_outputs: torch.Tensor, text_outputs: torch.Tensor) -> torch.Tensor:
        """The fusion learner: one unified continuous output Z in (-1, 1) per (image, text) pair."""
        return self.fusion(torch.cat([image_outputs, text_outputs], dim=-1))

    def step_parameters(self, step: str) -> list[nn.Parameter]:
        if step == "discriminator":
            return list(self.discriminator.parameters())
        return self.tower_parameters("image") + self.tower_parameters("text") + list(self.fusion.parameters())

    def init_training_state(self, train_labels, num_items, generator=None) -> ItemCodeState:
        """U, V, Z as Gaussian noise from ``generator`` (replaced as the items are seen), B, and the labels."""
        return ItemCodeState(
            num_items, self.config.hash_bits, labels=train_labels, streams=("image", "text", "fused"),
            generator=generator,
        ).to(self.device)

    def compute_loss(self, step: str, batch: TrainingBatch):
        if step == "discriminator":
            loss = discriminator_loss(self.discriminator, batch.image_embeds, batch.text_embeds)
            return loss, {"discriminator": loss.detach()}
        return self._hashing_loss(batch)

    def joint_loss(self, batch: TrainingBatch):
        """Without a training step, ``forward`` returns the extractors' loss (the discriminator plays against it)."""
        return self.step_loss("hashing", batch)

    def _code_weights(self) -> dict[str, float]:
        """The weights of the discrete step B = sign(γ(U + V) + μZ)."""
        gamma, mu = self.config.quantization_weight, self.config.fusion_quantization_weight
        return {"image": gamma, "text": gamma, "fused": mu}

    def _hashing_loss(self, batch: TrainingBatch):
        config, labels, state = self.config, batch.labels, batch.state
        image, text = batch.image_embeds.float(), batch.text_embeds.float()
        similarity = label_similarity(labels, labels)
        fused = self.fuse(image, text).float()
        if state is None:
            codes = unified_codes(image.detach(), text.detach(), fused.detach(), config.quantization_weight,
                                  config.fusion_quantization_weight)
            ready, all_codes, all_similarity = 1.0, codes, similarity
        else:
            # until the first discrete step there are no unified codes: the terms that use B are off
            codes, ready = state.codes[batch.sample_index], (state.code_updates > 0).float()
            all_codes, all_similarity = state.codes, label_similarity(labels, state.labels)
        parts = {
            "pairwise": pairwise_likelihood_loss(image, text, similarity),
            "fusion": pairwise_likelihood_loss(fused, fused, similarity),
            "quantization": ready * (quantization_loss(image, codes) + quantization_loss(text, codes)),
            "fusion_quantization": ready * quantization_loss(fused, codes),
            "unified": ready
            * (
                pairwise_likelihood_loss(image, all_codes, all_similarity)
                + pairwise_likelihood_loss(text, all_codes, all_similarity)
            ),
            "adversarial": modality_confusion_loss(self.discriminator, image, text),
        }
        weights = {
            "pairwise": 1.0,
            "fusion": config.fusion_weight,
            "quantization": config.quantization_weight,
            "fusion_quantization": config.fusion_quantization_weight,
            "unified": config.unified_weight,
            "adversarial": config.adversarial_weight,
        }
        total = sum(weights[name] * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}

    @torch.no_grad()
    def update_training_state(self, state, step, image_embeds, text_embeds, sample_index):
        if step != "hashing":
            return
        state.record("image", sample_index, image_embeds)
        state.record("text", sample_index, text_embeds)
        fused = self.fuse(image_embeds.to(self.device, self.dtype), text_embeds.to(self.device, self.dtype))
        state.record("fused", sample_index, fused.float())

    def on_epoch_end(self, state, epoch):
        state.update_codes(self._code_weights())
