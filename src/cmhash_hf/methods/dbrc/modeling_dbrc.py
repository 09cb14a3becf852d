"""DBRC: Deep Binary Reconstruction (Di Hu, Feiping Nie & Xuelong Li, ACM MM 2017; IEEE TMM 2019).

What is implemented (from the paper's description; there is no public code):

- Unsupervised: training never reads labels (``uses_labels = False``), so it runs on datasets without a
  ``labels`` column.
- Modality-specific layers (each tower, then ``image_hash`` / ``text_hash``: Linear → ReLU to ``shared_dim``)
  feed ONE shared binary layer (``binary_layer``: Linear → adaptive tanh, `SharedBinaryLayer`), whose output
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
- The saturation penalty (weight ``saturation_weight``) is mean((1 − |u|)²) over the shared layer's outputs u
  of both modalities (`saturation_penalty`), not a function of α alone. A penalty on α alone (mean(1/α²)
  before) is moved by AdamW's normalised update at the same speed whatever its weight — weights 1 and 100 gave
  the same α — and grows α without regard to where z lies. On the outputs, its gradient reaches α, the shared
  projection and the layers below and competes with the reconstruction error, so its weight decides how close
  to ±1 the codes are (tests/test_dbrc.py::test_a_larger_saturation_weight_saturates_the_codes_more).
- The reconstruction targets are computed in `compute_loss` from the processed inputs the `TrainingBatch`
  carries (``batch.inputs``; the trainer keeps them in cached batches, ``reads_raw_inputs``).

Measured (issue 13, `benchmarks/dbrc_saturation.py`; Wiki, 32 bits, seed 0, ``benchmarks/wiki.py`` training
settings, 10 epochs — 40 took over 6 min a run on the shared machine): mean |u| of the shared layer's outputs
over the 2,173 training pairs (image / text), mean α, distinct codes sign(u) and bits constant over those pairs
(image / text), mAP@all image→text / text→image (693 test queries; chance 0.111). "before" is the mean(1/α²)
penalty on α (commit 06a9f3b), "after" the penalty on the outputs (20b6b68; the same numbers at 6da1320):

======  ======  ===============  =======  ===============  =============  ===============
code    weight  mean |u|         mean α   distinct codes   constant bits  mAP
======  ======  ===============  =======  ===============  =============  ===============
before  0       0.118 / 0.169    0.951    1966 / 796       3 / 7          0.179 / 0.212
before  1       0.127 / 0.181    1.212    1951 / 785       3 / 7          0.181 / 0.222
before  10      0.129 / 0.185    1.256    1946 / 784       3 / 8          0.177 / 0.222
after   0       0.120 / 0.172    0.979    1962 / 764       3 / 6          0.177 / 0.214
after   0.01    0.126 / 0.182    0.979    1926 / 731       4 / 7          0.178 / 0.213
after   0.1     0.248 / 0.341    0.980    525 / 175        11 / 13        0.172 / 0.183
after   1       0.855 / 0.819    0.984    5 / 8            28 / 26        0.117 / 0.116
after   10      0.980 / 0.992    0.987    1 / 1            32 / 32        0.111 / 0.111
======  ======  ===============  =======  ===============  =============  ===============

Before, the weight did nothing (|u| 0.13 / 0.18 at weights 0, 1 and 10; the issue's 0.46 / 0.33 was not
reproduced at 10 epochs). Now it decides the saturation, but the penalty is met by collapse: saturation and
constant bits rise together (0.1: 11 / 13 constant bits, 525 / 175 distinct codes), at weight 1 (the default
until this table) nearly every bit is constant over the training set and mAP falls to chance, at 10 every item
gets the same code. None of these weights saturates without collapsing, so the default is 0.01 (retrieval as
without the penalty). α hardly moves (Adam moves raw α by at most about
the learning rate a step, 0.34 over these 340 steps, and weight decay pulls it towards 0): the layers below
the tanh make the pre-activations large and of one sign for (nearly) every item instead. Open: a
collapse-proof form of the penalty (see docs/decisions.md, DBRC entry).
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
    AdaptiveTanh,
    SharedBinaryLayer,
    build_decoder,
    inverse_softplus,
    reconstruction_target,
    reconstruction_width,
    saturation_penalty,
)

MODALITIES = ("image", "text")


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
            config.shared_dim, config.hash_bits, config.scaling, config.initial_scale, config.centre_pre_activations
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
        if isinstance(module, SharedBinaryLayer):
            init.zeros_(module.image_mean)
            init.zeros_(module.text_mean)

    # ----------------------------------------------------------------- codes through the shared layer
    def hash_features(self, modality: str, features: torch.Tensor) -> torch.Tensor:
        """Continuous outputs in (-1, 1): modality-specific layer → shared binary layer (centred per modality)."""
        return self.binary_layer(super().hash_features(modality, features), modality)

    # ----------------------------------------------------------------- training protocol
    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """The processed inputs (what is reconstructed); either modality's outputs or both (checked in the loss)."""
        return ("inputs",)

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
        penalty = saturation_penalty(codes)
        parts["saturation"] = penalty.detach()
        return total + self.config.saturation_weight * penalty, parts
