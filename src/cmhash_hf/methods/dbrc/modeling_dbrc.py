"""DBRC: Deep Binary Reconstruction (Di Hu, Feiping Nie & Xuelong Li, ACM MM 2017; IEEE TMM 2019).

What is implemented (from the paper's description; there is no public code):

- Unsupervised: training never reads labels (``uses_labels = False``), so it runs on datasets without a
  ``labels`` column.
- Modality-specific layers (each tower, then ``image_hash`` / ``text_hash``: Linear → ReLU to ``shared_dim``)
  feed ONE shared binary layer (``binary_layer``: Linear → per-modality normalisation → adaptive tanh,
  `SharedBinaryLayer`), whose output
  must reconstruct both modalities' inputs through two decoders (squared error), so the code keeps the inter-
  and intra-modal structure.
- The adaptive tanh scales the activations before the tanh, tanh(α ⊙ z) with a learned α per unit, and a
  penalty makes the outputs saturate towards ±1: binary codes learned end to end with plain gradient descent,
  with no relax-then-threshold stage. (The paper: the scale is learned so that the activations are brought into
  the tanh's saturated range; it gives no formula for the penalty.)

Our reading where the paper leaves room:

- What "input" means per tower: for ``bow`` / ``features`` towers the input vector itself; for a text
  transformer the bag of tokens (multi-hot of the unmasked ``input_ids`` over the vocabulary); for a picture
  backbone the picture average-pooled to ``image_reconstruction_size``² pixels per channel. These are fixed
  functions of the raw inputs: reconstructing the towers' own (detached) features instead would let the towers
  collapse to constant, trivially reconstructable features.
- Query time: the shared binary layer takes either modality's representation, so a single image (or a single
  text) gets its code by its own tower → its modality-specific layer → the shared layer; a pair is never needed.
  In training each modality's code reconstructs BOTH modalities' inputs (its own and, across, its pair's),
  which is what ties the two codes of a pair together.
- Each reconstruction error is relative (‖x̂ − x‖² / ‖x‖² over the batch), so the image and text sides weigh
  the same whatever their scales; the loss averages over the two codes.
- α = softplus(raw α) > 0, so the tanh never flips or flattens a unit. ``scaling="nonlinear"`` (our reading
  of the learned nonlinear scale) is tanh(α ⊙ z + β ⊙ z³) with β = softplus(raw β) > 0 learned per unit
  (starting at 0.01): an odd scaling that is strictly increasing in z (derivative α + 3βz² > 0), so the code
  bit is the sign of the pre-activation in both forms.
- How the codes saturate (the paper: the scale is learned so that the activations reach the saturated range):
  α starts small (``initial_scale`` 0.1, the tanh's linear range, where the codes' signs are learned as by a
  linear autoencoder) and a penalty grows it. The penalty (weight ``saturation_weight``, default 1) is
  mean((1 − |u|)²) of the adaptive tanh of the shared layer's *detached* pre-activations (`saturation_penalty`),
  so its gradient reaches α (and β) alone; the reconstruction error, which prefers the linear range, pulls α
  down, and the weight sets where the two meet (tests/test_dbrc.py::
  test_a_larger_saturation_weight_saturates_the_codes_more). α trains in an AdamW group of its own
  (``scale_learning_rate`` 0.01, no weight decay; `own_param_groups`): Adam moves a parameter by about its
  learning rate a step, so at the heads' 1e-3 α could not grow by more than about 1 over a run.
- Each modality's pre-activations are batch-normalised without an affine part before the adaptive tanh
  (``normalize_pre_activations``, `SharedBinaryLayer`; running estimates per modality at query time). The paper
  has no such step; without it the layers below answer α's growth by shrinking the pre-activations (toy data in
  tests/test_dbrc.py::test_the_penalty_saturates_the_codes_by_growing_the_scales: α > 2.5 but |u| < 0.5).
  Normalised, a bit has mean 0 and variance 1 over each modality's items: its scale is α's alone, and it cannot
  be constant.
- Forms tried and not kept (numbers in `benchmarks/dbrc_saturation.md` and docs/decisions.md): mean(1/α²) (its
  weight did nothing under AdamW); the penalty on the outputs with its gradient into every layer, met by
  collapse (Wiki, weight 1: 28 of 32 bits constant, retrieval at chance); the same with centred
  pre-activations (no constant bit, but the codes fall into few clusters: builtin:shapes at chance).
- The reconstruction targets are computed in `compute_loss` from the processed inputs the `TrainingBatch`
  carries (``batch.inputs``; the trainer keeps them in cached batches, ``reads_raw_inputs``).

Measured (issue 13, `benchmarks/dbrc_saturation.py`; Wiki, 32 bits, seed 0, ``benchmarks/wiki.py`` training
settings, last epoch): mean |u| of the shared layer's outputs over the 2,173 training pairs (image / text), mean
α, distinct codes sign(u) and bits constant over those pairs (image / text), mAP@all image→text / text→image
(693 test queries; chance 0.111). "before" is the mean(1/α²) penalty (06a9f3b); "outputs" the penalty on the
outputs with its gradient into every layer (6da1320; c8fccba at 40 epochs, with its default 0.01); "scales" the
default now (7372154); the full table, with the forms tried in between, is `benchmarks/dbrc_saturation.md`:

=======================  ======  ======  ===============  =====  ===============  =============  ===============
code                     epochs  weight  mean |u|         α      distinct codes   constant bits  mAP
=======================  ======  ======  ===============  =====  ===============  =============  ===============
before                   10      1       0.127 / 0.181    1.21   1951 / 785       3 / 7          0.181 / 0.222
before                   10      10      0.129 / 0.185    1.26   1946 / 784       3 / 8          0.177 / 0.222
outputs                  10      0.01    0.126 / 0.182    0.98   1926 / 731       4 / 7          0.178 / 0.213
outputs                  10      1       0.855 / 0.819    0.98   5 / 8            28 / 26        0.117 / 0.116
outputs                  40      0.01    0.123 / 0.129    0.97   2001 / 790       4 / 5          0.163 / 0.258
scales                   40      0       0.085 / 0.087    0.10   2125 / 1319      0 / 0          0.232 / 0.494
scales                   40      1       0.636 / 0.627    1.93   1003 / 611       0 / 0          0.214 / 0.323
scales                   40      3       0.714 / 0.779    4.10   750 / 368        0 / 0          0.200 / 0.325
scales                   40      10      0.735 / 0.800    4.81   706 / 351        0 / 0          0.198 / 0.353
scales, unnormalised     40      10      0.190 / 0.206    7.29   2133 / 1415      0 / 0          0.196 / 0.379
=======================  ======  ======  ===============  =====  ===============  =============  ===============

Before, the weight did nothing; on the outputs, the penalty was met by collapse, so the default had been 0.01,
which does not saturate. Now the weight decides the saturation and no bit is constant at any weight: with the
default 1, α grows from 0.1 to 1.9 and |u| reaches 0.64 / 0.63 after 40 epochs (from 0.12 / 0.13 with the old
default), and retrieval is above the old default's at the same length (0.214 / 0.323 against 0.163 / 0.258;
seeds 1 and 2: |u| 0.582 / 0.580 and 0.563 / 0.543, mAP 0.201 / 0.293 and 0.215 / 0.354).
Larger weights saturate more (10: |u| 0.74 / 0.80, α 4.8, 0.198 / 0.353; at 10 epochs, while α is still
growing, 0.63 / 0.58) but cost retrieval where the codes are short: on builtin:shapes (CPU preset, 30 epochs,
seed 0; chance 0.315) image→text / text→image is 0.359 / 0.353 at weight 0, 0.342 / 0.339 at 1, 0.313 / 0.342
at 3 and 0.310 / 0.341 at 10 with 16 bits (32 bits: 0.353 / 0.358 at 1, 0.335 / 0.340 at 3), hence the
default 1 (at 1, 16 bits, seeds 0–2: 0.344 ± 0.004 / 0.338 ± 0.007). The layer without the penalty (weight
0, codes near 0) retrieves best on Wiki too (0.232 / 0.494): set ``saturation_weight=0`` for retrieval rather
than DBRC's binary layer. Without the normalisation α grows further (7.3 at weight 10) but the codes do not
saturate (|u| 0.19 / 0.21): the layers below shrink the pre-activations.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import initialization as init

from ...modeling_utils import CrossModalHashPreTrainedModel
from ...training_batch import TrainingBatch
from .configuration_dbrc import DBRCConfig
from .layers_dbrc import (
    INITIAL_CUBIC_SCALE,
    MODALITIES,
    AdaptiveTanh,
    SharedBinaryLayer,
    build_decoder,
    inverse_softplus,
    reconstruction_target,
    reconstruction_width,
    saturation_penalty,
)


class DBRCModel(CrossModalHashPreTrainedModel):
    """DBRC: one shared binary layer with an adaptive tanh, trained to reconstruct both modalities' inputs.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> model = DBRCModel(DBRCConfig(hash_bits=8, shared_dim=16, decoder_hidden_dim=0))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> out = model(**batch, return_loss=True)  # no labels needed
        >>> out.image_codes.shape, sorted(out.loss_terms)
        (torch.Size([2, 8]), ['joint/image_reconstruction', 'joint/saturation', 'joint/text_reconstruction'])
    """

    config_class = DBRCConfig
    uses_labels = False
    reads_raw_inputs = True  # the loss reconstructs the inputs, so cached batches still carry them

    def __init__(self, config: DBRCConfig) -> None:
        super().__init__(config)
        self.binary_layer = SharedBinaryLayer(
            config.shared_dim, config.hash_bits, config.scaling, config.initial_scale, config.normalize_pre_activations
        )
        size = config.image_reconstruction_size
        self.image_decoder = build_decoder(
            config.hash_bits, config.decoder_hidden_dim, reconstruction_width(config.image_encoder, "image", size)
        )
        self.text_decoder = build_decoder(
            config.hash_bits, config.decoder_hidden_dim, reconstruction_width(config.text_encoder, "text", size)
        )
        self.post_init()

    def build_hash_layer(self, input_dim: int) -> nn.Module:
        """DBRC's modality-specific layer (Linear → ReLU to ``shared_dim``); the shared binary layer follows it."""
        return nn.Sequential(nn.Linear(input_dim, self.config.shared_dim), nn.ReLU())

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        super()._init_weights(module)
        if isinstance(module, AdaptiveTanh):
            init.constant_(module.raw_alpha, inverse_softplus(module.initial_scale))
            if module.raw_beta is not None:
                init.constant_(module.raw_beta, inverse_softplus(INITIAL_CUBIC_SCALE))

    # ----------------------------------------------------------------- codes through the shared layer
    def hash_features(self, modality: str, features: torch.Tensor) -> torch.Tensor:
        """Continuous outputs in (-1, 1): modality-specific layer → shared binary layer (normalised per modality)."""
        return self.binary_layer(super().hash_features(modality, features), modality)

    def own_param_groups(self) -> list[dict]:
        """The tanh scales α (and β) train at ``scale_learning_rate`` without weight decay (decay would pull
        them towards softplus(0) ≈ 0.69, against the saturation penalty)."""
        return [{"name": "scales", "params": list(self.binary_layer.activation.parameters()),
                 "lr": self.config.scale_learning_rate, "weight_decay": 0.0}]

    # ----------------------------------------------------------------- training protocol
    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """The processed inputs (what is reconstructed); either modality's outputs or both (checked in the loss)."""
        return ("inputs",)  # the tower outputs come with the embeddings of the modalities that ran

    def reconstruction_targets(self, batch: TrainingBatch) -> dict[str, torch.Tensor]:
        """What DBRC reconstructs of each modality whose tower ran (`reconstruction_target` of the inputs)."""
        size = self.config.image_reconstruction_size
        specs = {"image": self.config.image_encoder, "text": self.config.text_encoder}
        return {
            modality: reconstruction_target(specs[modality], modality, size, **batch.inputs).to(self.device)
            for modality in MODALITIES
            if batch.embeds(modality) is not None
        }

    def compute_loss(self, step: str, batch: TrainingBatch):
        targets = self.reconstruction_targets(batch)
        codes = [embeds.float() for embeds in (batch.image_embeds, batch.text_embeds) if embeds is not None]
        if not codes:
            raise ValueError(f"DBRCModel's {step!r} step needs image inputs or text inputs in the batch.")
        decoders = {"image": self.image_decoder, "text": self.text_decoder}
        weights = {"image": self.config.image_reconstruction_weight, "text": self.config.text_reconstruction_weight}
        parts: dict[str, torch.Tensor] = {}
        total = codes[0].new_zeros(())
        for modality in MODALITIES:
            if modality not in targets:
                continue
            target = targets[modality]
            energy = (target**2).sum().clamp(min=1e-8)
            error = sum(((decoders[modality](code) - target) ** 2).sum() / energy for code in codes) / len(codes)
            total = total + weights[modality] * error
            parts[f"{modality}_reconstruction"] = error.detach()
        # The penalty sees the tanh of the detached pre-activations: it grows the scales, not the layers below.
        scaled = []
        for modality in MODALITIES:
            features = batch.tower_outputs(modality)
            if features is not None:
                with torch.no_grad():
                    hidden = super().hash_features(modality, features)
                    z = self.binary_layer.batch_pre_activations(hidden, modality).float()
                scaled.append(self.binary_layer.activation(z))
        penalty = saturation_penalty(scaled)
        parts["saturation"] = penalty.detach()
        return total + self.config.saturation_weight * penalty, parts
