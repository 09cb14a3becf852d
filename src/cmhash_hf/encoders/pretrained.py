"""Loading pretrained encoders (Hub ids or local folders) as the starting point of a tower, with their own
image processor and tokenizer.

A Hub id (``"google/vit-base-patch16-224"``) goes through the Hub cache like any transformers model; a local
folder saved by ``save_pretrained`` works the same way, offline:

Example:
    >>> import tempfile
    >>> from transformers import ViTConfig, ViTModel
    >>> folder = tempfile.mkdtemp()
    >>> ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
    ...                    image_size=32, patch_size=8)).save_pretrained(folder)
    >>> spec, encoder = load_pretrained_encoder(folder, "image")
    >>> spec["kind"], spec["name_or_path"] == folder, type(encoder).__name__
    ('hf', True, 'ViTModel')
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, AutoImageProcessor, AutoModel, AutoTokenizer, PreTrainedModel

#: Checkpoints that hold both halves: the attribute of the loaded model that is each modality's encoder.
_DUAL_ENCODERS = {
    "clip": {"image": "vision_model", "text": "text_model"},
    "siglip": {"image": "vision_model", "text": "text_model"},
    "siglip2": {"image": "vision_model", "text": "text_model"},
}


def load_pretrained_encoder(name_or_path: str, modality: str, **hub_kwargs: Any) -> tuple[dict, PreTrainedModel]:
    """Load a pretrained vision or text encoder and the encoder spec that rebuilds its architecture.

    Args:
        name_or_path: a Hub model id or a local folder written by ``save_pretrained``.
        modality: ``"image"`` or ``"text"``.

    Returns:
        ``(spec, model)``: the ``{"kind": "hf", ...}`` spec to put in a `CrossModalHashConfig`, and the loaded
        model whose ``state_dict`` fills the tower.
    """
    return load_pretrained_encoders({modality: name_or_path}, **hub_kwargs)[modality]


def _load_checkpoint(name_or_path: str, what: str, **hub_kwargs: Any) -> PreTrainedModel:
    try:
        AutoConfig.from_pretrained(name_or_path, **hub_kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"Could not load the {what} encoder {name_or_path!r}: {err}".splitlines()[0]) from None
    return AutoModel.from_pretrained(name_or_path, dtype="float32", **hub_kwargs)


def load_pretrained_encoders(names: dict[str, str], **hub_kwargs: Any) -> dict[str, tuple[dict, PreTrainedModel]]:
    """`load_pretrained_encoder` for several modalities (``{"image": name, "text": name}``); a checkpoint named
    for both (a dual encoder such as CLIP) is loaded once."""
    for modality in names:
        if modality not in ("image", "text"):
            raise ValueError(f"modality must be 'image' or 'text', got {modality!r}.")
    loaded: dict[str, PreTrainedModel] = {}
    result = {}
    for modality, name_or_path in names.items():
        key = str(name_or_path)
        if key not in loaded:
            loaded[key] = _load_checkpoint(key, " and ".join(m for m, n in names.items() if str(n) == key), **hub_kwargs)
        result[modality] = _encoder_half(loaded[key], key, modality)
    return result


def _encoder_half(model: PreTrainedModel, name_or_path: str, modality: str) -> tuple[dict, PreTrainedModel]:
    dual = _DUAL_ENCODERS.get(model.config.model_type)
    if dual is not None:
        model = getattr(model, dual[modality])
    # Sentence encoders are trained for mean pooling, and their pooler weights are often absent (random).
    pooling = "mean" if modality == "text" and dual is None else "auto"
    spec = {"kind": "hf", "config": model.config.to_dict(), "pooling": pooling, "name_or_path": str(name_or_path)}
    return spec, model


def load_image_processor(name_or_path: str, **hub_kwargs: Any) -> Any:
    """The image processor saved with a pretrained vision encoder (`AutoImageProcessor`)."""
    try:
        return AutoImageProcessor.from_pretrained(name_or_path, **hub_kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"Could not load the image processor of {name_or_path!r} (the vision encoder's "
                      f"preprocessor_config.json): {err}".splitlines()[0]) from None


def load_tokenizer(name_or_path: str, **hub_kwargs: Any) -> Any:
    """The tokenizer saved with a pretrained text encoder (`AutoTokenizer`)."""
    try:
        return AutoTokenizer.from_pretrained(name_or_path, **hub_kwargs)
    except (OSError, ValueError) as err:
        raise OSError(f"Could not load the tokenizer of {name_or_path!r} (save it beside the text encoder): "
                      f"{err}".splitlines()[0]) from None
