"""Configuration of DCPH (Deep Cross-Modal Proxy Hashing, Tu et al., IEEE TKDE 2023).

Example:
    >>> config = DCPHConfig(hash_bits=16, num_classes=24)
    >>> config.model_type, config.loss_form, config.proxy_hidden_dim
    ('dcph', 'normalized', 4096)
"""

from __future__ import annotations

from typing import Any

from ...configuration_utils import CrossModalHashConfig

LOSS_FORMS = ("normalized", "raw")


class DCPHConfig(CrossModalHashConfig):
    r"""
    DCPH hyper-parameters, with the paper's / public code's defaults where they are known (see each field).

    Args:
        proxy_hidden_dim (`int`, defaults to 4096): width of the proxy network's hidden layer
            (one-hot label → Linear(C→4096) → ReLU → BatchNorm → Linear(4096→K) → tanh), as in the public code.
        proxy_epochs (`float`, defaults to 0.1): length of stage 1 (training the proxy network). A value of 1
            or more is a number of epochs; a value in (0, 1) is a fraction of the run's epochs (at least one).
            Stage 2 always keeps at least one epoch; a one-epoch run does both stages in that epoch.
        proxy_quantization_weight (`float`, defaults to 1.0): weight of the proxy quantisation term
            mean((|h| − 1)²) that pushes the proxy network's tanh outputs to ±1 (our choice; the public code
            tunes a β over 0.001–10 and most often ships β = 1).
        proxy_balance_weight (`float`, defaults to 1.0): weight of the proxy bit-balance term ‖mean_c h_c‖² / K
            (each bit +1 for about half of the classes; our choice).
        loss_form (`str`, defaults to `"normalized"`): ``"normalized"`` scores s = uᵀp / K with
            ``softmax_scale``/``softmax_margin``; ``"raw"`` scores raw inner products s = uᵀp with
            ``raw_softmax_scale`` and the margin ``raw_softmax_margin_per_bit`` · K, as in the public code.
        softmax_scale (`float`, defaults to 20.0): γ of the normalised margin-dynamic-softmax loss (``scale``
            before the renaming).
        softmax_margin (`float`, defaults to 0.2): σ of the normalised loss (on scores in [−1, 1]; ``margin``
            before the renaming).
        raw_softmax_scale (`float`, defaults to 0.3): γ of the raw loss (public code; ``raw_scale`` before).
        raw_softmax_margin_per_bit (`float`, defaults to 0.3): σ / K of the raw loss (public code: σ = 0.3 · K;
            ``raw_margin_per_bit`` before).
        cross_modal_weight (`float`, defaults to 0.1): weight of the cross-modal term (the same loss with the
            other modality's current codes of the batch in place of the proxies).
        quantization_weight (`float`, defaults to 0.1): weight of the unified-code quantisation term ‖B − u‖²
            with B = sign(B_img + B_txt) (``regularization_weight`` before the renaming).
        alternate_by (`str`, defaults to `"epoch"`): stage 2 updates the image net for a whole pass, then the
            text net (``"epoch"``, as in the paper), or alternates on every batch (``"batch"``).
        kwargs: the shared fields of `CrossModalHashConfig`.
    """

    model_type = "dcph"
    renamed_fields = {
        "scale": "softmax_scale",
        "margin": "softmax_margin",
        "raw_scale": "raw_softmax_scale",
        "raw_margin_per_bit": "raw_softmax_margin_per_bit",
        "regularization_weight": "quantization_weight",
    }

    proxy_hidden_dim: int = 4096
    proxy_epochs: float = 0.1
    proxy_quantization_weight: float = 1.0
    proxy_balance_weight: float = 1.0
    loss_form: str = "normalized"
    softmax_scale: float = 20.0
    softmax_margin: float = 0.2
    raw_softmax_scale: float = 0.3
    raw_softmax_margin_per_bit: float = 0.3
    cross_modal_weight: float = 0.1
    quantization_weight: float = 0.1
    alternate_by: str = "epoch"

    def __post_init__(self, **kwargs: Any) -> None:
        self.take_renamed_fields(kwargs)
        if self.loss_form not in LOSS_FORMS:
            raise ValueError(f"loss_form must be one of {LOSS_FORMS}, got {self.loss_form!r}.")
        if self.alternate_by not in ("epoch", "batch"):
            raise ValueError(f"alternate_by must be 'epoch' or 'batch', got {self.alternate_by!r}.")
        if not isinstance(self.proxy_hidden_dim, int) or self.proxy_hidden_dim < 1:
            raise ValueError(f"proxy_hidden_dim must be a positive integer, got {self.proxy_hidden_dim!r}.")
        if not self.proxy_epochs > 0:
            raise ValueError(f"proxy_epochs must be positive (a count, or a fraction below 1), got {self.proxy_epochs!r}.")
        if self.softmax_scale <= 0 or self.raw_softmax_scale <= 0:
            raise ValueError("softmax_scale and raw_softmax_scale must be positive.")
        self.require_non_negative(
            "proxy_quantization_weight", "proxy_balance_weight", "cross_modal_weight", "quantization_weight"
        )
        super().__post_init__(**kwargs)

    def num_proxy_epochs(self, num_epochs: int) -> int:
        """Epochs of stage 1 in a run of ``num_epochs``: at least one, and at least one left for stage 2.

        Example:
            >>> config = DCPHConfig(proxy_epochs=0.1)
            >>> config.num_proxy_epochs(20), config.num_proxy_epochs(3), config.num_proxy_epochs(1)
            (2, 1, 1)
        """
        wanted = int(self.proxy_epochs) if self.proxy_epochs >= 1 else round(self.proxy_epochs * num_epochs)
        return max(1, min(wanted, num_epochs - 1))
