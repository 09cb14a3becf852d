"""The method registry and `CrossModalHashModel`, which dispatches on ``config.model_type``.

Example:
    >>> from cmhash_hf import CrossModalHashModel, list_methods
    >>> "dcmh" in list_methods()
    True
    >>> type(CrossModalHashModel.for_method("dcmh", hash_bits=16)).__name__
    'DCMHModel'
"""

from __future__ import annotations

from typing import Any

from transformers import AutoConfig, AutoModel

from .configuration_utils import CrossModalHashConfig
from .encoders.pretrained import load_pretrained_encoders
from .modeling_utils import HUB_KWARGS, CrossModalHashPreTrainedModel, load_hash_config

_METHODS: dict[str, tuple[type[CrossModalHashConfig], type[CrossModalHashPreTrainedModel]]] = {}


def register_hash_method(
    name: str, config_class: type[CrossModalHashConfig], model_class: type[CrossModalHashPreTrainedModel]
) -> None:
    """Register a method under ``name`` (its lower-case ``model_type``), with AutoConfig and AutoModel too.

    Registering the same classes twice is a no-op; a different pair under a taken name is an error.
    """
    if config_class.model_type != name or name != name.lower():
        raise ValueError(f"A method's name must be its lower-case config model_type; got {name!r} for "
                         f"{config_class.__name__}.model_type={config_class.model_type!r}.")
    if not issubclass(config_class, CrossModalHashConfig) or not issubclass(model_class, CrossModalHashPreTrainedModel):
        raise TypeError("register_hash_method takes a CrossModalHashConfig and a CrossModalHashPreTrainedModel subclass.")
    if name in _METHODS:
        if _METHODS[name] == (config_class, model_class):
            return
        raise ValueError(f"A hashing method named {name!r} is already registered.")
    AutoConfig.register(name, config_class)
    AutoModel.register(config_class, model_class)
    _METHODS[name] = (config_class, model_class)


def list_methods() -> list[str]:
    """The names of every registered hashing method, sorted."""
    return sorted(_METHODS)


def get_method(name: str) -> tuple[type[CrossModalHashConfig], type[CrossModalHashPreTrainedModel]]:
    """The (config class, model class) of a registered method; an unknown name is a clear `ValueError`."""
    key = str(name).lower()
    if key not in _METHODS:
        raise ValueError(f"Unknown hashing method {name!r}; available methods: {', '.join(list_methods())}.")
    return _METHODS[key]


class CrossModalHashModel:
    """Loads or builds the right method class from a config, like `AutoModel` for hashing models.

    It is never instantiated: use `from_pretrained`, `from_config`, `for_method` or `from_encoders_pretrained`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise EnvironmentError(
            "CrossModalHashModel is a factory: use CrossModalHashModel.from_pretrained(path_or_id) or "
            "CrossModalHashModel.from_config(config)."
        )

    @classmethod
    def from_config(cls, config: CrossModalHashConfig, **kwargs: Any) -> CrossModalHashPreTrainedModel:
        """A randomly initialised model of the method named by ``config.model_type``."""
        if not isinstance(config, CrossModalHashConfig):
            raise TypeError(f"Expected a CrossModalHashConfig (or a method's config), got {type(config).__name__}.")
        _, model_class = get_method(config.model_type)
        return model_class(config, **kwargs)

    @classmethod
    def for_method(cls, method: str, **config_kwargs: Any) -> CrossModalHashPreTrainedModel:
        """A randomly initialised model of ``method`` with a config built from ``config_kwargs``."""
        config_class, model_class = get_method(method)
        return model_class(config_class(**config_kwargs))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path: str, **kwargs: Any) -> CrossModalHashPreTrainedModel:
        """Load a checkpoint (local folder or Hub id) of any registered method.

        Raises a clear `OSError` for a folder that holds no checkpoint and a `ValueError` for a checkpoint of a
        model that is not a hashing method.
        """
        hub_kwargs = {k: kwargs[k] for k in HUB_KWARGS if k in kwargs}
        config = kwargs.pop("config", None) or load_hash_config(pretrained_model_name_or_path, **hub_kwargs)
        _, model_class = get_method(config.model_type)
        return model_class.from_pretrained(pretrained_model_name_or_path, config=config, **kwargs)

    @classmethod
    def from_encoders_pretrained(
        cls,
        method: str,
        vision: str | None = "google/vit-base-patch16-224",
        text: str | None = "sentence-transformers/all-MiniLM-L6-v2",
        **config_kwargs: Any,
    ) -> CrossModalHashPreTrainedModel:
        """A new model of ``method`` whose towers start from pretrained encoders (Hub ids or local folders).

        A CLIP checkpoint can supply either tower (its vision or text half is taken). Hash layers and any extra
        networks start from random weights. ``None`` for a tower keeps the config's own (random) tower.

        Example (``vision="openai/clip-vit-base-patch32"`` loads CLIP's vision half from the Hub; a folder saved
        by ``save_pretrained`` stands in for it here, offline):
            >>> import tempfile
            >>> from transformers import ViTConfig, ViTModel
            >>> folder = tempfile.mkdtemp()
            >>> ViTModel(ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
            ...                    image_size=32, patch_size=8)).save_pretrained(folder)
            >>> model = CrossModalHashModel.from_encoders_pretrained("dcmh", vision=folder, text=None, hash_bits=16)
            >>> model.config.image_encoder["name_or_path"] == folder, model.config.text_encoder["kind"]  # default tiny BERT
            (True, 'hf')
        """
        config_class, model_class = get_method(method)
        names = {modality: name for modality, name in (("image", vision), ("text", text)) if name is not None}
        loaded = load_pretrained_encoders(names)  # a dual encoder named for both towers is loaded once
        for modality, (spec, _) in loaded.items():
            config_kwargs[f"{modality}_encoder"] = spec
        model = model_class(config_class(**config_kwargs))
        for modality, (_, encoder) in loaded.items():
            tower = model.image_tower if modality == "image" else model.text_tower
            tower.model.load_state_dict(encoder.state_dict())
        return model
