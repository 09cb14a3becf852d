"""GANCMH: Generative Adversarial Networks for Cross-Modal Hashing.

What is implemented (from the method's description; there is no public reference code):

- Generators: the image and text networks (tower + hash layer), whose continuous codes U (image) and V (text)
  model the joint distribution of the two modalities.
- Two discriminators, each an MLP with its own parameters, against which the generators play:
  - a modality discriminator D_m on single codes tries to tell image codes from text codes (the distribution
    of each modality on its own: the generators make the two marginals alike, `modality_confusion_loss`);
  - a pair discriminator D_p on (image code, text code) pairs tries to tell matched pairs (u_i, v_i), the two
    modalities of one item, from mismatched ones (u_i, v_j) (the joint distribution of the two modalities,
    `cmhash_hf.methods.adversarial.pair_discriminator_loss`); the generators are trained to fool it
    (`pair_confusion_loss`, the targets flipped).
- A label network (multi-hot labels → MLP → tanh codes H) supplies semantic target codes.
- Generator loss: inter-modality pairwise likelihood L(U, V) + ``intra_modal_weight`` · (L(U, U) + L(V, V))
  + ``label_guidance_weight`` · (L(U, H) + L(V, H)) + ``quantization_weight`` · ‖sign(H) − U‖² (and V)
  + ``adversarial_weight`` · modality confusion + ``pair_adversarial_weight`` · pair confusion, plus the label
  network's own L(H, H) + ‖sign(H) − H‖². L is the pairwise negative log-likelihood of shared-label similarity
  (`cmhash_hf.losses.pairwise_likelihood_loss`).
- Two optimisation steps with their own optimisers, alternating on every batch: ``"discriminator"`` (the
  parameters of both discriminators, on detached codes: D_m's loss + D_p's loss) then ``"generator"`` (towers,
  hash layers and the label network).

Our reading where the description leaves room ("the joint distribution over the data of different modalities",
"inter- and intra-modality correlations explored by generative and discriminative models together"):

- The discriminators see the continuous codes (not tower features), so what is aligned is what gets binarised.
- The joint distribution is what D_p sees: (image, text) pairs. Which pairs are "mismatched" decides what the
  generators, fooling D_p, remove from the codes. We take the pairs of two *different items that share a label*
  (``pair_mismatch="shared_label"``): D_p then looks for whatever in the codes tells an item's own text from a
  semantically similar item's text (instance detail the labels do not describe), and the generators erase it, so
  that the joint distribution of the codes of similar pairs equals that of true pairs — exactly the similarity
  (S_ij = 1) that every pairwise term asks for, inter-modality (D_p's pairs cross modalities) and
  intra-modality (via L(U, U), L(V, V)). The other reading, pairs sharing *no* label (``"no_shared_label"``),
  asks the generators to make unrelated pairs look matched, which works directly against the pairwise likelihood;
  it is kept as an option. Every mismatched pair of the batch is scored (not one sampled partner per item), so
  the step is deterministic given the batch.
- Both discriminators train in the one ``"discriminator"`` step: their parameters are disjoint and each loss
  reads only its own discriminator, so one Adam(W) optimiser over both takes exactly the steps of two separate
  ones, and the towers run once per step instead of three times per batch.
- "Inter- and intra-modality correlations" are, on the discriminative side, D_p's cross-modal pairs and D_m's
  per-modality codes; on the generative side, the pairwise-likelihood terms across and within modalities.
- The label network and its target codes follow the self-supervised adversarial hashing line of work (labels as a
  third, noise-free modality). The label network and both discriminators are used in training only:
  ``encode_image`` / ``encode_text`` use the modality networks alone. ``forward`` without a ``training_step``
  returns the generator loss.
"""

from __future__ import annotations

import torch
from torch import nn

from ...losses import label_similarity, pairwise_likelihood_loss, quantization_loss
from ...modeling_utils import CrossModalHashPreTrainedModel, binarize
from ...training_batch import TrainingBatch
from ..adversarial import (
    ModalityDiscriminator,
    PairDiscriminator,
    discriminator_loss,
    mismatched_pairs,
    modality_confusion_loss,
    pair_confusion_loss,
    pair_discriminator_loss,
)
from .configuration_gancmh import GANCMHConfig


class GANCMHModel(CrossModalHashPreTrainedModel):
    """GANCMH: modality networks as generators against a modality discriminator, guided by a label network.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> from cmhash_hf import GANCMHConfig
        >>> model = GANCMHModel(GANCMHConfig(hash_bits=8, num_classes=3))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> labels = torch.tensor([[1.0, 0, 0], [0, 1, 0]])
        >>> out = model(**batch, labels=labels, training_step="discriminator")
        >>> sorted(out.loss_terms), model.training_steps
        (['discriminator', 'pair_discriminator'], ('discriminator', 'generator'))
    """

    config_class = GANCMHConfig
    training_steps = ("discriminator", "generator")
    step_schedule = "batch"

    def __init__(self, config: GANCMHConfig) -> None:
        super().__init__(config)
        self.discriminator = ModalityDiscriminator(config.hash_bits, config.discriminator_hidden_dim)
        self.pair_discriminator = PairDiscriminator(config.hash_bits, config.discriminator_hidden_dim)
        self.label_net = (
            nn.Sequential(
                nn.Linear(config.num_classes, config.label_hidden_dim),
                nn.ReLU(),
                nn.Linear(config.label_hidden_dim, config.hash_bits),
                nn.Tanh(),
            )
            if config.num_classes
            else None
        )
        self.post_init()

    def step_parameters(self, step: str) -> list[nn.Parameter]:
        if step == "discriminator":
            return list(self.discriminator.parameters()) + list(self.pair_discriminator.parameters())
        label_params = [] if self.label_net is None else list(self.label_net.parameters())
        return self.tower_parameters("image") + self.tower_parameters("text") + label_params

    def compute_loss(self, step: str, batch: TrainingBatch):
        if step == "discriminator":
            return self._discriminator_loss(batch.image_embeds, batch.text_embeds, batch.labels)
        return self._generator_loss(batch.image_embeds.float(), batch.text_embeds.float(), batch.labels)

    def joint_loss(self, batch: TrainingBatch):
        """Without a training step, ``forward`` returns the generator loss (the discriminator plays against it)."""
        return self.step_loss("generator", batch)

    def _discriminator_loss(
        self, image: torch.Tensor, text: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Both discriminators' losses, summed (disjoint parameters: each trains on its own loss only)."""
        mismatched = mismatched_pairs(labels, self.config.pair_mismatch)
        parts = {
            "discriminator": discriminator_loss(self.discriminator, image, text),
            "pair_discriminator": pair_discriminator_loss(self.pair_discriminator, image, text, mismatched),
        }
        return parts["discriminator"] + parts["pair_discriminator"], {k: v.detach() for k, v in parts.items()}

    def _generator_loss(
        self, image: torch.Tensor, text: torch.Tensor, labels: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        if self.label_net is None:
            raise ValueError("GANCMH needs config.num_classes > 0 (its label network reads the label vectors).")
        config = self.config
        similarity = label_similarity(labels, labels)
        label_codes = self.label_net(labels)
        targets = label_codes.detach()
        target_codes = binarize(targets).float()
        parts = {
            "cross_modal": pairwise_likelihood_loss(image, text, similarity),
            "intra_modal": pairwise_likelihood_loss(image, image, similarity)
            + pairwise_likelihood_loss(text, text, similarity),
            "label_guidance": pairwise_likelihood_loss(image, targets, similarity)
            + pairwise_likelihood_loss(text, targets, similarity),
            "quantization": quantization_loss(image, target_codes) + quantization_loss(text, target_codes),
            "adversarial": modality_confusion_loss(self.discriminator, image, text),
            "pair_adversarial": pair_confusion_loss(
                self.pair_discriminator, image, text, mismatched_pairs(labels, config.pair_mismatch)
            ),
            "label_net": pairwise_likelihood_loss(label_codes, label_codes, similarity)
            + quantization_loss(label_codes),
        }
        weights = {
            "cross_modal": 1.0,
            "intra_modal": config.intra_modal_weight,
            "label_guidance": config.label_guidance_weight,
            "quantization": config.quantization_weight,
            "adversarial": config.adversarial_weight,
            "pair_adversarial": config.pair_adversarial_weight,
            "label_net": 1.0,
        }
        total = sum(weights[name] * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}
