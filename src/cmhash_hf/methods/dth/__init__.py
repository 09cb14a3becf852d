from .configuration_dth import DTHConfig
from .modeling_dth import DTHModel, bit_regularizers, dth_triplet_loss, relaxed_hamming
from .triplets import mine_triplets, triplet_mask

__all__ = [
    "DTHConfig",
    "DTHModel",
    "bit_regularizers",
    "dth_triplet_loss",
    "mine_triplets",
    "relaxed_hamming",
    "triplet_mask",
]
