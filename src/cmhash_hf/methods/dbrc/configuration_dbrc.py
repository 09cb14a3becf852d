"""Configuration of DBRC (Deep Binary Reconstruction, Hu, Nie & Li, ACM MM 2017 / IEEE TMM 2019).

Example:
    >>> config = DBRCConfig(hash_bits=16, scaling="nonlinear")
    >>> config.model_type, config.scaling, config.shared_dim
    ('dbrc', 'nonlinear', 512)
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig

SCALINGS = ("linear", "nonlinear")


class DBRCConfig(CrossModalHashConfig):
    r"""
    DBRC hyper-parameters. The paper gives no numbers for most of them; the defaults are our choices.

    Args:
        shared_dim (`int`, defaults to 512): width of each modality-specific layer (Linear → ReLU on the tower's
            features), which feeds the shared binary layer.
        scaling (`str`, defaults to `"linear"`): the adaptive tanh's scaling of the shared layer's pre-activation
            z: ``"linear"`` is tanh(α ⊙ z), ``"nonlinear"`` is tanh(α ⊙ z + β ⊙ z³), with α (and β) learned per
            unit and kept positive through a softplus, so the scaling is increasing in z.
        initial_scale (`float`, defaults to 1.0): starting value of every α (β starts at 0.01).
        saturation_weight (`float`, defaults to 1.0): weight of the saturation penalty mean((1 − |u|)²) on the
            shared layer's outputs u, which drives the codes towards ±1 (``scale_penalty_weight`` before the
            renaming; that penalty was mean(1 / α²)). With the centred shared layer, weight 1 brings mean |u| on
            Wiki to about 0.8 with no bit constant over the training set (the table in `DBRCModel`'s module
            docstring); 0 leaves the codes near 0 (|u| about 0.1), which retrieves better on Wiki but is not the
            binary layer DBRC describes.
        centre_pre_activations (`bool`, defaults to `True`): subtract from each modality's pre-activations of the
            shared layer their batch mean in training (a running mean per modality at query time; see
            `SharedBinaryLayer`). Without it the saturation penalty is met by making bits constant over the data
            (on Wiki at weight 1, 28 of 32 bits and retrieval at chance); ``False`` gives the layer as before.
        decoder_hidden_dim (`int`, defaults to 512): hidden width of each reconstruction decoder
            (code → Linear → ReLU → Linear → input); 0 makes the decoders linear.
        image_reconstruction_size (`int`, defaults to 8): for a picture tower (``hf``), the reconstructed "input"
            is the picture average-pooled to this many pixels a side (all channels), flattened.
        image_reconstruction_weight (`float`, defaults to 1.0): weight of the image reconstruction error.
        text_reconstruction_weight (`float`, defaults to 1.0): weight of the text reconstruction error.
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "dbrc"
    renamed_fields = {"scale_penalty_weight": "saturation_weight"}

    shared_dim: int = 512
    scaling: str = "linear"
    initial_scale: float = 1.0
    saturation_weight: float = 1.0
    centre_pre_activations: bool = True
    decoder_hidden_dim: int = 512
    image_reconstruction_size: int = 8
    image_reconstruction_weight: float = 1.0
    text_reconstruction_weight: float = 1.0

    def __post_init__(self, **kwargs: Any) -> None:
        self.take_renamed_fields(kwargs)
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling must be one of {SCALINGS}, got {self.scaling!r}.")
        for name in ("shared_dim", "image_reconstruction_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if not isinstance(self.decoder_hidden_dim, int) or self.decoder_hidden_dim < 0:
            raise ValueError(f"decoder_hidden_dim must be a non-negative integer, got {self.decoder_hidden_dim!r}.")
        if not isinstance(self.centre_pre_activations, bool):
            raise TypeError(
                f"centre_pre_activations must be true or false, got {self.centre_pre_activations!r}."
            )
        if self.initial_scale <= 0:
            raise ValueError(f"initial_scale must be positive, got {self.initial_scale}.")
        self.require_non_negative("saturation_weight", "image_reconstruction_weight", "text_reconstruction_weight")
        super().__post_init__(**kwargs)
