"""CDHTK: Cross-Modal Dual Hashing based on Transfer Knowledge (Acta Electronica Sinica, 2025).

What is implemented (from the paper's abstract; the paper's equations and code are not public):

- Three networks: the image network and the text network (tower + hash layer), and a transfer-knowledge
  network that reads *both* modalities and outputs a knowledge vector T (`TransferNetwork`): each modality's
  tower features go through an adapter of its own, and one shared MLP reads the two adapted vectors side by side,
  T = g([a_I(f_I); a_T(f_T)]).
- Dual codes: the image code fuses the image network's code with the transfer network's code, and the text code
  likewise. With f the tower features and T the transferred knowledge, the fused continuous code is
  H = tanh(W_s f + W_t T + b): the pre-activation is the sum of the modality-specific part W_s f + b and the
  transferred part W_t T (both are one linear layer over [f; T], the model's ``image_hash`` / ``text_hash``).
- Loss: cross-entropy label prediction (sigmoid cross-entropy, labels are multi-hot; one linear classifier) from
  the fused codes and from the transferred codes tanh(W_t T) + a joint triplet–quantisation loss (cross-modal
  triplets mined from labels in the batch, image anchors against texts and text anchors against images, plus
  ‖sign(H) − H‖² and a bit-balance term, see below) + a differential loss on the transferred knowledge: the
  decorrelation of the specific code tanh(W_s f + b) and the transferred code tanh(W_t T) over the batch
  (`differential_loss`: centred, normalised correlations), so the transferred part carries what the
  modality-specific part does not (the difference loss of domain-separation networks, made scale-free).

Our reading where the paper leaves room, and how a single modality gets its transfer part at query time: a query
is one picture or one text, so the transfer network's input for the missing modality is *predicted* from the
present one: a completion layer per direction maps the present modality's adapted vector to an estimate of the
missing one's, T(image) = g([a_I(f_I); c_T(a_I(f_I))]) (and the mirror for a text). ``encode_image`` /
``encode_text`` and every code the losses score are these fused codes, so what is trained is what is retrieved.
In training the pair is at hand, and two terms carry knowledge across modalities: the completion loss teaches
each completion layer the pair's real other modality, ‖c_T(a_I) − a_T‖² + ‖c_I(a_T) − a_I‖² (the real adapted
vectors as fixed targets), and the agreement loss ‖T(image) − T(text)‖² pulls together the knowledge given by
the two members of a pair, so each modality's code carries the knowledge its partner would give. The towers are
shared by the modality-specific and transfer parts (the transfer network reads the tower features).
The triplet hinge scores a collapsed code set (every item the same code) no worse than random codes, and without
help the codes collapsed on builtin:shapes; the bit-balance term ‖mean over the batch of H‖² (each bit +1 for
about half the batch) rules that out.

Measured (issue 13; Wiki, 32 bits, the Wiki benchmark's settings, 100 epochs, seed 0; mAP image→text /
text→image). This method's Wiki row before issue 13 (transfer network reading one modality, knowledge of a pair's
two members pulled together, an uncentred cross-moment as the differential loss): 0.332 ± 0.009 / 0.727 ± 0.016
(3 seeds); that code rerun here: 0.320 / 0.745. A first reading of "transfer knowledge" that read the real pair
in training, T(image, text), predicted the labels from it and pulled each single-modality route to it (pair
detached) fell to 0.287 / 0.624 without the differential loss, 0.316 / 0.562 with it at 0.01 (and 0.319 / 0.548
with the agreement between the two members added back): the pair's knowledge, never available at query time,
was a poor target. The reading above (completion towards the real other modality, agreement between the two
members, labels predicted from each member's transferred code) gives 0.329 / 0.724 with the differential loss
at 0.001 (the default) and 0.293 / 0.727 at 0.01: the decorrelation costs image→text retrieval, hence the small
default. What each loss contributes (`benchmarks/cdhtk_ablation.py`: 40 epochs, seeds 0 and 1, mean ± std,
``benchmarks/cdhtk_ablation.md``):

=============================================  =============  =============
variant                                        image→text     text→image
=============================================  =============  =============
full                                           0.292 ± 0.006  0.663 ± 0.015
without classification                         0.293 ± 0.004  0.463 ± 0.003
without triplet and quantisation               0.287 ± 0.017  0.622 ± 0.006
without differential                           0.289 ± 0.009  0.688 ± 0.004
without agreement and completion               0.302 ± 0.008  0.613 ± 0.003
full, transferred knowledge 0 when encoding    0.289 ± 0.007  0.353 ± 0.007
=============================================  =============  =============

Label prediction carries most of text→image (−0.20 without it), the triplet/quantisation pair and the
cross-modal transfer terms (agreement and completion) add 0.04–0.05 each, and the differential loss costs a
little (+0.025 without it, at its default 0.001). The transferred part now carries the codes: with the knowledge
set to 0 at encoding, text→image falls from 0.663 to 0.353 (at an earlier stop, with the pair-target reading, it
fell from 0.211 to 0.210 only). Image→text stays at 0.29 ± 0.01 in every variant: the image side (128-d SIFT
words) is the limit there.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ...losses import cross_modal_triplet_loss, quantization_loss
from ...modeling_utils import CrossModalHashPreTrainedModel, HashLayer
from ...training_batch import TrainingBatch
from .configuration_cdhtk import CDHTKConfig


class TransferNetwork(nn.Module):
    """Both modalities' tower features → knowledge in (-1, 1); a missing modality is completed from the present one.

    Each modality has an adapter (a linear layer from its tower features); the shared MLP reads the two adapted
    vectors concatenated. Given one modality only, a completion layer (one per direction) predicts the missing
    modality's adapted vector from the present one's.

    Example:
        >>> net = TransferNetwork(image_dim=6, text_dim=4, hidden_dim=8, output_dim=3)
        >>> image, text = torch.randn(2, 6), torch.randn(2, 4)
        >>> net(image_features=image).shape, net(text_features=text).shape, net(image, text).shape
        (torch.Size([2, 3]), torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(self, image_dim: int, text_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict(
            {"image": nn.Linear(image_dim, hidden_dim), "text": nn.Linear(text_dim, hidden_dim)}
        )
        #: completions[m]: the adapted vector of modality m, predicted from the other modality's
        self.completions = nn.ModuleDict(
            {"image": nn.Linear(hidden_dim, hidden_dim), "text": nn.Linear(hidden_dim, hidden_dim)}
        )
        self.shared = nn.Sequential(
            nn.ReLU(),
            nn.Linear(2 * hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
            nn.Tanh(),
        )

    def forward(
        self, image_features: torch.Tensor | None = None, text_features: torch.Tensor | None = None
    ) -> torch.Tensor:
        if image_features is None and text_features is None:
            raise ValueError("The transfer network needs the image features, the text features or both.")
        if image_features is not None and text_features is not None:
            adapted = [self.adapters["image"](image_features), self.adapters["text"](text_features)]
            return self.shared(torch.cat(adapted, dim=-1))
        modality, features = ("image", image_features) if text_features is None else ("text", text_features)
        return self.from_one_modality(modality, self.adapters[modality](features))[0]

    def from_one_modality(self, modality: str, adapted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The knowledge from one modality's adapted vector, and the other modality's adapted vector its completion
        layer predicts (what the knowledge reads in place of the missing modality)."""
        other = "text" if modality == "image" else "image"
        completed = self.completions[other](adapted)
        pair = [adapted, completed] if modality == "image" else [completed, adapted]
        return self.shared(torch.cat(pair, dim=-1)), completed


def differential_loss(specific: torch.Tensor, transferred: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """How much of the specific code the transferred code repeats: squared correlations over the batch.

    Every bit (column) of both (batch, K) matrices is centred and scaled to unit variance over the batch (a
    constant bit, variance 0, counts as uncorrelated); C = specific_ᵀ transferred / batch is the K × K matrix of
    correlations, and the loss is ‖C‖²_F / K: for each specific bit the sum of its squared correlations with the
    transferred bits, averaged over the specific bits. It is 0 when no transferred bit correlates with any
    specific bit, and at least 1 when the transferred code repeats the specific one (the diagonal alone); it does
    not change when a code is shifted or scaled.

    Example:
        >>> a = torch.tensor([[1.0, -1.0], [-1.0, -1.0], [1.0, 1.0], [-1.0, 1.0]])
        >>> differential_loss(a, a).item()  # two uncorrelated bits, repeated: C = identity, ‖C‖² / K = 2 / 2
        1.0
        >>> differential_loss(a, 0.5 * a + 3.0).item()  # shifting and scaling changes nothing
        1.0
        >>> differential_loss(a[:, :1], a[:, 1:]).item()  # bits with zero correlation
        0.0
    """
    def standardise(codes: torch.Tensor) -> torch.Tensor:
        centred = codes.float() - codes.float().mean(0)
        # clamp the variance before the square root: sqrt's gradient at 0 is infinite (a constant bit → NaN)
        return centred / centred.pow(2).mean(0).clamp(min=eps**2).sqrt()

    correlation = standardise(specific).T @ standardise(transferred) / specific.shape[0]
    return correlation.pow(2).sum() / specific.shape[1]


class CDHTKModel(CrossModalHashPreTrainedModel):
    """CDHTK: image and text codes each fused with the code of a shared transfer-knowledge network.

    See the module docstring for what is implemented and where we chose.

    Example:
        >>> import torch
        >>> from cmhash_hf import CDHTKConfig
        >>> model = CDHTKModel(CDHTKConfig(hash_bits=8, num_classes=3))
        >>> batch = {"pixel_values": torch.randn(2, 3, 32, 32), "input_ids": torch.ones(2, 5, dtype=torch.long)}
        >>> out = model(**batch, labels=torch.tensor([[1.0, 0, 0], [0, 1, 0]]))
        >>> sorted(out.loss_terms)[:3]
        ['joint/agreement', 'joint/balance', 'joint/classification']
    """

    config_class = CDHTKConfig

    def __init__(self, config: CDHTKConfig) -> None:
        super().__init__(config)
        self.transfer = TransferNetwork(
            self.image_tower.output_dim, self.text_tower.output_dim, config.transfer_hidden_dim, config.transfer_dim
        )
        self.classifier = nn.Linear(config.hash_bits, config.num_classes) if config.num_classes else None
        self.post_init()

    def build_hash_layer(self, input_dim: int) -> nn.Module:
        """One linear layer over [tower features; transferred knowledge], then tanh: the fused code."""
        return HashLayer(input_dim + self.config.transfer_dim, self.config.hash_bits)

    # ----------------------------------------------------------------- fused codes
    def hash_features(self, modality: str, features: torch.Tensor) -> torch.Tensor:
        """Fused continuous codes in (-1, 1) from one modality alone: its hash layer over [features; T(features)]."""
        knowledge = self.transfer(**{f"{modality}_features": features})
        return super().hash_features(modality, torch.cat([features, knowledge], dim=-1))

    def code_parts(
        self, modality: str, features: torch.Tensor, knowledge: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The two pre-activations whose sum is the fused code's: modality-specific W_s f + b, transferred W_t T."""
        projection = (self.image_hash if modality == "image" else self.text_hash).projection
        width = features.shape[-1]
        specific = F.linear(features, projection.weight[:, :width], projection.bias)
        transferred = F.linear(knowledge, projection.weight[:, width:])
        return specific, transferred

    # ----------------------------------------------------------------- loss
    def required_inputs(self, step: str, batch: TrainingBatch) -> tuple[str, ...]:
        """Both modalities' codes and tower features (the transfer network reads the features)."""
        return ("image_embeds", "text_embeds", "image_tower_outputs", "text_tower_outputs")

    def compute_loss(self, step: str, batch: TrainingBatch):
        if self.classifier is None:
            raise ValueError("CDHTK needs config.num_classes > 0 (it predicts labels from the codes).")
        config, labels = self.config, batch.labels
        image, text = batch.image_embeds.float(), batch.text_embeds.float()

        def label_prediction(codes: torch.Tensor) -> torch.Tensor:
            return F.binary_cross_entropy_with_logits(self.classifier(codes).float(), labels)

        features = {modality: batch.tower_outputs(modality) for modality in ("image", "text")}
        adapted = {modality: self.transfer.adapters[modality](own) for modality, own in features.items()}
        differential, completion, knowledge = 0.0, 0.0, {}
        classification = label_prediction(image) + label_prediction(text)
        for modality, own in features.items():
            other = "text" if modality == "image" else "image"
            # the knowledge this modality's code uses, at query time as here (`hash_features`): its own adapted
            # vector beside the other modality's, completed from it
            knowledge[modality], completed = self.transfer.from_one_modality(modality, adapted[modality])
            specific, transferred = self.code_parts(modality, own, knowledge[modality])
            differential = differential + differential_loss(torch.tanh(specific.float()), torch.tanh(transferred.float()))
            classification = classification + label_prediction(torch.tanh(transferred.float()))
            # the completion is taught the pair's real other modality (its adapted vector, as a fixed target)
            completion = completion + ((completed.float() - adapted[other].detach().float()) ** 2).mean()
        parts = {
            "classification": classification,
            "triplet": cross_modal_triplet_loss(image, text, labels, labels, config.triplet_margin)
            + cross_modal_triplet_loss(text, image, labels, labels, config.triplet_margin),
            "quantization": quantization_loss(image) + quantization_loss(text),
            "balance": (image.mean(0) ** 2).mean() + (text.mean(0) ** 2).mean(),
            "differential": differential,
            "agreement": ((knowledge["image"].float() - knowledge["text"].float()) ** 2).mean(),
            "completion": completion,
        }
        weights = {
            "classification": config.classification_weight,
            "triplet": config.triplet_weight,
            "quantization": config.quantization_weight,
            "balance": config.balance_weight,
            "differential": config.differential_weight,
            "agreement": config.agreement_weight,
            "completion": config.completion_weight,
        }
        total = sum(weights[name] * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}
