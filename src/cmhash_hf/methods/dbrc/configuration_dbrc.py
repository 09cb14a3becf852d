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
        initial_scale (`float`, defaults to 0.1): starting value of every α (β starts at 0.01). Small, so that
            training starts in the tanh's linear range and the codes' signs are learned before α saturates them.
        scale_learning_rate (`float`, defaults to 0.01): AdamW learning rate of α (and β), in a param group of
            their own without weight decay. Adam moves a parameter by about its learning rate a step, so with the
            heads' 1e-3 α could not grow by more than about 1 over a run.
        saturation_weight (`float`, defaults to 1.0): weight of the saturation penalty mean((1 − |u|)²), taken
            on the tanh of the detached normalised pre-activations so that it grows the scales α alone
            (``scale_penalty_weight`` before the renaming; that penalty was mean(1 / α²)). The reconstruction
            error pulls α down, the penalty up: the weight sets where they meet, i.e. how saturated the codes
            end (Wiki, 32 bits, 40 epochs: 0 → mean |u| 0.09, 1 → 0.64, 3 → 0.71 / 0.78, 10 → 0.74 / 0.80 for
            images / texts, with no bit constant). Saturation costs retrieval, and above 1 the 16-bit codes of
            builtin:shapes fall to chance from image to text; the tables are in `DBRCModel`'s module docstring.
        normalize_pre_activations (`bool`, defaults to `True`): batch-normalise (without affine part) each
            modality's pre-activations of the shared layer (`SharedBinaryLayer`), so that neither a constant bit
            nor a shrinking of the pre-activations can answer the penalty. ``False`` leaves them as they are,
            and the layers below then shrink them as α grows (the codes do not saturate).
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
    initial_scale: float = 0.1
    scale_learning_rate: float = 1e-2
    saturation_weight: float = 1.0
    normalize_pre_activations: bool = True
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
        if not isinstance(self.normalize_pre_activations, bool):
            raise TypeError(
                f"normalize_pre_activations must be true or false, got {self.normalize_pre_activations!r}."
            )
        if not self.scale_learning_rate > 0:
            raise ValueError(f"scale_learning_rate must be positive, got {self.scale_learning_rate!r}.")
        if self.initial_scale <= 0:
            raise ValueError(f"initial_scale must be positive, got {self.initial_scale}.")
        self.require_non_negative("saturation_weight", "image_reconstruction_weight", "text_reconstruction_weight")
        super().__post_init__(**kwargs)
