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
- The shared layer centres each modality's pre-activations before the adaptive tanh (``centre_pre_activations``,
  on by default; `SharedBinaryLayer`): in training a batch's mean is subtracted, at query time a running mean
  kept per modality (as BatchNorm keeps its statistics). The paper has no such step. Without it the penalty is
  met by collapse: a shift that every item shares (the projection's bias, or its weights along the features'
  mean) makes |u| large for every item at once, and Adam moves such a shift as fast as anything else, so bits
  become constant over the data (on Wiki at weight 1, 28 of 32; tests/test_dbrc.py::
  test_the_penalty_saturates_the_codes_without_making_bits_constant shows it on toy data). Centred, a bit's
  pre-activation has mean zero over each modality's items, so it cannot have one sign for all of them, while
  its magnitude (what the penalty drives) is still learned: nothing is rescaled. Forms that also rescale the
  pre-activations (per unit, per item or per modality), or that let the penalty move α alone, were tried and
  not kept (docs/decisions.md, the DBRC entries, with their numbers).
- The reconstruction targets are computed in `compute_loss` from the processed inputs the `TrainingBatch`
  carries (``batch.inputs``; the trainer keeps them in cached batches, ``reads_raw_inputs``).

Measured (issue 13, `benchmarks/dbrc_saturation.py`; Wiki, 32 bits, seed 0, ``benchmarks/wiki.py`` training
settings, last epoch): mean |u| of the shared layer's outputs over the 2,173 training pairs (image / text), mean
α, distinct codes sign(u) and bits constant over those pairs (image / text), mAP@all image→text / text→image
(693 test queries; chance 0.111). "before" is the mean(1/α²) penalty on α (commit 06a9f3b), "uncentred" the
penalty on the outputs without centring (6da1320), "centred" the default now (d1d60e6); the full table, with
more weights, is `benchmarks/dbrc_saturation.md`:

=========  ======  ======  ===============  =======  ===============  =============  ===============
code       epochs  weight  mean |u|         mean α   distinct codes   constant bits  mAP
=========  ======  ======  ===============  =======  ===============  =============  ===============
before     10      1       0.127 / 0.181    1.212    1951 / 785       3 / 7          0.181 / 0.222
before     10      10      0.129 / 0.185    1.256    1946 / 784       3 / 8          0.177 / 0.222
uncentred  10      0.01    0.126 / 0.182    0.979    1926 / 731       4 / 7          0.178 / 0.213
uncentred  10      0.1     0.248 / 0.341    0.980    525 / 175        11 / 13        0.172 / 0.183
uncentred  10      1       0.855 / 0.819    0.984    5 / 8            28 / 26        0.117 / 0.116
centred    10      0       0.074 / 0.079    0.978    2161 / 1417      0 / 0          0.216 / 0.347
centred    10      0.3     0.128 / 0.166    0.980    2112 / 960       0 / 0          0.235 / 0.322
centred    10      1       0.754 / 0.695    0.987    189 / 346        0 / 0          0.193 / 0.153
centred    10      10      0.979 / 0.975    1.036    35 / 121         0 / 0          0.164 / 0.125
centred    40      0       0.081 / 0.061    0.954    2164 / 1598      0 / 0          0.209 / 0.438
centred    40      1       0.765 / 0.841    1.013    59 / 192         0 / 0          0.178 / 0.196
=========  ======  ======  ===============  =======  ===============  =============  ===============

Before, the weight did nothing. Uncentred, the penalty was met by collapse (at weight 1 nearly every bit constant
over the training set and mAP at chance), so the default had been 0.01, which does not saturate. Centred, the
weight decides the saturation and no bit is constant at any weight: the default weight 1 brings |u| to 0.75–0.84
and 10 to 0.98, the adaptive tanh's outputs sitting near ±1 as DBRC designs them. It costs retrieval on Wiki:
the saturated codes fall into fewer distinct codes (59 / 192 after 40 epochs at weight 1); against the old
unsaturated default (uncentred, 0.01, 10 epochs: 0.178 / 0.213) image→text is as good or better (0.193 after 10
epochs, 0.178 after 40) and text→image lower (0.153, 0.196), while the same centred layer without the penalty
(weight 0) retrieves far better (0.209 / 0.438 after 40 epochs) with codes near 0. A penalty weight that
rises linearly from 0 over the run did not keep that (40 epochs, weight 1: |u| 0.68 / 0.80, mAP 0.165 / 0.163;
weight 10: 0.96 / 0.98, 0.187 / 0.187). Set ``saturation_weight=0`` for retrieval rather than DBRC's binary
layer. α hardly moves in either form (Adam moves raw α by at most about the learning rate a step, and weight
decay pulls it towards 0): the layers below make the pre-activations large instead.
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
        if isinstance(module, SharedBinaryLayer) and module.norms is not None:
            for norm in module.norms.values():
                init.zeros_(norm.running_mean)
                init.ones_(norm.running_var)
                init.zeros_(norm.num_batches_tracked)

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
