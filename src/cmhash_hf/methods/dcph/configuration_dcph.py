"""Configuration of DCPH (Deep Cross-Modal Proxy Hashing, Tu et al., IEEE TKDE 2023).

Example:
    >>> config = DCPHConfig(hash_bits=16, num_classes=24)
    >>> config.model_type, config.loss_form, config.proxy_hidden_dim
    ('dcph', 'normalized', 4096)
"""

from __future__ import annotations

import logging
from typing import Any

from ...configuration_utils import CrossModalHashConfig

logger = logging.getLogger(__name__)

LOSS_FORMS = ("normalized", "raw")
PROXY_STARTS = ("hadamard", "random")


class DCPHConfig(CrossModalHashConfig):
    r"""
    DCPH hyper-parameters, with the paper's / public code's defaults where they are known (see each field).

    Args:
        proxy_hidden_dim (`int`, defaults to 4096): width of the proxy network's hidden layer
            (one-hot label → Linear(C→4096) → ReLU → BatchNorm → Linear(4096→K) → tanh), as in the public code.
        proxy_steps (`int`, defaults to 500): optimisation steps of stage 1 (training the proxy network), each
            over all C classes at once (full batch), run once before the first epoch whatever the run's length.
            (``proxy_epochs``, a share of the run's epochs, before: a saved config that has it still loads.)
        proxy_learning_rate (`float`, defaults to 1e-4): Adam's learning rate for stage 1 (at 1e-3 the first
            steps on the 4096-wide network flip many proxy bits at once; measured at 16 bits, 24 classes).
        proxy_start (`str`, defaults to `"hadamard"`): where stage 1 starts. ``"hadamard"``: the proxy network is
            first set so that its proxies are rows of a Hadamard code and their negatives (pairwise inner
            products 0 or −K), for code lengths that are powers of two and up to 2K classes; other lengths and
            the classes beyond 2K start from the network's random outputs. ``"random"``: from the network's
            random initial outputs only (the paper's start).
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
        cross_modal_weight (`float`, defaults to 0.1): weight of the cross-modal term: the same loss against the
            proxies, scored for the item's code fused with the other modality's current code of the same item,
            (u + b_other) / 2; no similarity between datapoints is defined.
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
    proxy_steps: int = 500
    proxy_learning_rate: float = 1e-4
    proxy_start: str = "hadamard"
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
        if kwargs.pop("proxy_epochs", None) is not None:
            logger.warning(
                "DCPHConfig: `proxy_epochs` is no longer used; stage 1 runs `proxy_steps` full-batch steps "
                "(%d) before the first epoch. Drop `proxy_epochs` from the config to silence this.", self.proxy_steps
            )
        if self.loss_form not in LOSS_FORMS:
            raise ValueError(f"loss_form must be one of {LOSS_FORMS}, got {self.loss_form!r}.")
        if self.alternate_by not in ("epoch", "batch"):
            raise ValueError(f"alternate_by must be 'epoch' or 'batch', got {self.alternate_by!r}.")
        if not isinstance(self.proxy_hidden_dim, int) or self.proxy_hidden_dim < 1:
            raise ValueError(f"proxy_hidden_dim must be a positive integer, got {self.proxy_hidden_dim!r}.")
        if not isinstance(self.proxy_steps, int) or isinstance(self.proxy_steps, bool) or self.proxy_steps < 0:
            raise ValueError(f"proxy_steps must be a non-negative integer (full-batch steps), got {self.proxy_steps!r}.")
        if not self.proxy_learning_rate > 0:
            raise ValueError(f"proxy_learning_rate must be positive, got {self.proxy_learning_rate!r}.")
        if self.proxy_start not in PROXY_STARTS:
            raise ValueError(f"proxy_start must be one of {PROXY_STARTS}, got {self.proxy_start!r}.")
        if self.softmax_scale <= 0 or self.raw_softmax_scale <= 0:
            raise ValueError("softmax_scale and raw_softmax_scale must be positive.")
        self.require_non_negative(
            "proxy_quantization_weight", "proxy_balance_weight", "cross_modal_weight", "quantization_weight"
        )
        super().__post_init__(**kwargs)
