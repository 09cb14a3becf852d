"""cmhash-hf: deep cross-modal hashing models in the Hugging Face style.

Importing the package registers every method with `AutoConfig` / `AutoModel`.

Example:
    >>> from cmhash_hf import AutoConfig, CrossModalHashModel
    >>> model = CrossModalHashModel.from_config(AutoConfig.for_model("dcmh", hash_bits=16))
    >>> model.config.hash_bits
    16
"""

__version__ = "0.1.0"  # first: the data package reads it while the modules below are imported

from transformers import AutoConfig, AutoModel  # noqa: E402

from .auto import CrossModalHashModel, get_method, list_methods, register_hash_method
from .configuration_utils import CrossModalHashConfig
from .modeling_outputs import CrossModalHashOutput
from .item_state import ItemCodeState
from .modeling_utils import CrossModalHashPreTrainedModel, binarize
from .training_batch import TrainingBatch
from .methods import *  # noqa: F401,F403  (registers every method)
from .methods import __all__ as _method_names
from .processing import CrossModalHashProcessor
from . import hub  # noqa: F401,E402  (registers the model card writer and the Hub uploader on the model class)

__all__ = [
    "AutoConfig",
    "AutoModel",
    "CrossModalHashConfig",
    "CrossModalHashModel",
    "CrossModalHashOutput",
    "CrossModalHashPreTrainedModel",
    "CrossModalHashProcessor",
    "ItemCodeState",
    "TrainingBatch",
    "binarize",
    "get_method",
    "list_methods",
    "register_hash_method",
    *_method_names,
]
