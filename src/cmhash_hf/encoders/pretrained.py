"""Loading pretrained encoders (Hub ids or local folders) as the starting point of a tower.

Example:
    >>> spec, encoder = load_pretrained_encoder("google/vit-base-patch16-224", "image")  # doctest: +SKIP
    >>> spec["kind"], spec["name_or_path"]  # doctest: +SKIP
    ('hf', 'google/vit-base-patch16-224')
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, AutoModel, PreTrainedModel

#: Checkpoints that hold both halves: the attribute of the loaded model that is each modality's encoder.
_DUAL_ENCODERS = {"clip": {"image": "vision_model", "text": "text_model"}}


def load_pretrained_encoder(name_or_path: str, modality: str, **hub_kwargs: Any) -> tuple[dict, PreTrainedModel]:
    """Load a pretrained vision or text encoder and the encoder spec that rebuilds its architecture.

    Args:
        name_or_path: a Hub model id or a local folder written by ``save_pretrained``.
        modality: ``"image"`` or ``"text"``.

    Returns:
        ``(spec, model)``: the ``{"kind": "hf", ...}`` spec to put in a `CrossModalHashConfig`, and the loaded
        model whose ``state_dict`` fills the tower.
    """
    if modality not in ("image", "text"):
        raise ValueError(f"modality must be 'image' or 'text', got {modality!r}.")
    try:
        config = AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    except OSError as err:
        raise OSError(f"Could not load the {modality} encoder {name_or_path!r}: {err}".splitlines()[0]) from None
    dual = _DUAL_ENCODERS.get(config.model_type)
    model = AutoModel.from_pretrained(name_or_path, dtype="float32", **hub_kwargs)
    if dual is not None:
        model = getattr(model, dual[modality])
    # Sentence encoders are trained for mean pooling, and their pooler weights are often absent (random).
    pooling = "mean" if modality == "text" and dual is None else "auto"
    spec = {"kind": "hf", "config": model.config.to_dict(), "pooling": pooling, "name_or_path": str(name_or_path)}
    return spec, model
