"""CDHTK: Cross-Modal Dual Hashing based on Transfer Knowledge (Acta Electronica Sinica, 2025).

What is implemented (from the paper's abstract; the paper's equations and code are not public):

- Three networks: the image network and the text network (tower + hash layer), and a transfer-knowledge
  network that reads both modalities and outputs a knowledge vector T (`TransferNetwork`).
- Dual codes: the image code fuses the image network's code with the transfer network's code, and the text code
  likewise. With f the tower features and T the transferred knowledge, the fused continuous code is
  H = tanh(W_s f + W_t T + b): the pre-activation is the sum of the modality-specific part W_s f + b and the
  transferred part W_t T (both are one linear layer over [f; T], the model's ``image_hash`` / ``text_hash``).
- Loss: cross-entropy label prediction from the fused codes and from the transferred codes tanh(W_t T) (one
  linear classifier shared by all of them; sigmoid cross-entropy because labels are multi-hot) + a joint
  triplet–quantisation loss (cross-modal triplets mined from labels in the batch, image anchors against texts
  and text anchors against images, plus ‖sign(H) − H‖² and a bit-balance term, see below) + a differential
  loss on the transferred knowledge: the squared batch cross-correlation between the specific code
  tanh(W_s f + b) and the transferred code tanh(W_t T), so the transferred part carries what the
  modality-specific part does not (the difference loss of domain-separation networks).

Our reading where the paper leaves room, and how a single modality gets its transfer part at query time: the
transfer network is one shared MLP behind two modality-specific adapters (a linear layer per modality from that
tower's features). A lone image reaches it through the image adapter and a lone text through the text adapter;
in training both members of each pair go through it and an agreement loss ‖T(image) − T(text)‖² makes the two
routes give the same knowledge, so at query time one modality suffices and its code is comparable with the
other's. ``encode_image`` / ``encode_text`` are therefore the fused codes, each from its own modality only. The
towers are shared by the modality-specific and transfer parts (the transfer network reads the tower features).
The transferred codes are also asked to predict the labels: with only the agreement and differential losses the
transfer network's output shrank to zero in our runs. The triplet hinge scores a collapsed code set (every item
the same code) no worse than random codes, and without help the codes collapsed on builtin:shapes; the
bit-balance term ‖mean over the batch of H‖² (each bit +1 for about half the batch) rules that out.
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
    """Modality-specific adapters into one shared MLP: tower features of either modality → knowledge in (-1, 1).

    Example:
        >>> net = TransferNetwork(image_dim=6, text_dim=4, hidden_dim=8, output_dim=3)
        >>> net(torch.randn(2, 6), "image").shape, net(torch.randn(2, 4), "text").shape
        (torch.Size([2, 3]), torch.Size([2, 3]))
    """

    def __init__(self, image_dim: int, text_dim: int, hidden_dim: int, output_dim: int) -> None:
        super().__init__()
        self.adapters = nn.ModuleDict(
            {"image": nn.Linear(image_dim, hidden_dim), "text": nn.Linear(text_dim, hidden_dim)}
        )
        self.shared = nn.Sequential(
            nn.ReLU(),
            nn.Linear(hidden_dim, hidden_dim),
            nn.ReLU(),
            nn.Linear(hidden_dim, output_dim),
            nn.Tanh(),
        )

    def forward(self, features: torch.Tensor, modality: str) -> torch.Tensor:
        return self.shared(self.adapters[modality](features))


def differential_loss(specific: torch.Tensor, transferred: torch.Tensor) -> torch.Tensor:
    """Squared batch cross-correlation of every pair of bits of two code matrices (batch, K), averaged.

    It is 0 when every bit of ``transferred`` is uncorrelated over the batch with every bit of ``specific``; a
    transferred code that repeats the specific one scores at least 1/K (its diagonal alone).

    Example:
        >>> a = torch.tensor([[1.0, -1.0], [1.0, 1.0]])
        >>> differential_loss(a, a).item(), differential_loss(a, torch.tensor([[1.0, 1.0], [-1.0, 1.0]])).item()
        (0.5, 0.5)
        >>> differential_loss(torch.tensor([[1.0], [-1.0]]), torch.tensor([[1.0], [1.0]])).item()
        0.0
    """
    return ((specific.T @ transferred / specific.shape[0]) ** 2).mean()


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
        knowledge = self.transfer(features, modality)
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

        differential, knowledge, classification = 0.0, {}, label_prediction(image) + label_prediction(text)
        for modality in ("image", "text"):
            features = batch.tower_outputs(modality)
            transferred_knowledge = self.transfer(features, modality)  # as in hash_features (a deterministic MLP)
            specific, transferred = self.code_parts(modality, features, transferred_knowledge)
            specific_code, transferred_code = torch.tanh(specific.float()), torch.tanh(transferred.float())
            differential = differential + differential_loss(specific_code, transferred_code)
            classification = classification + label_prediction(transferred_code)
            knowledge[modality] = transferred_knowledge.float()
        parts = {
            "classification": classification,
            "triplet": cross_modal_triplet_loss(image, text, labels, labels, config.triplet_margin)
            + cross_modal_triplet_loss(text, image, labels, labels, config.triplet_margin),
            "quantization": quantization_loss(image) + quantization_loss(text),
            "balance": (image.mean(0) ** 2).mean() + (text.mean(0) ** 2).mean(),
            "differential": differential,
            "agreement": ((knowledge["image"] - knowledge["text"]) ** 2).mean(),
        }
        weights = {
            "classification": config.classification_weight,
            "triplet": config.triplet_weight,
            "quantization": config.quantization_weight,
            "balance": config.balance_weight,
            "differential": config.differential_weight,
            "agreement": config.agreement_weight,
        }
        total = sum(weights[name] * value for name, value in parts.items())
        return total, {name: value.detach() for name, value in parts.items()}
