"""One folder per hashing method: ``configuration_<name>.py`` and ``modeling_<name>.py``.

Importing this package registers every method with `register_hash_method` (and so with AutoConfig/AutoModel).
"""

from ..auto import register_hash_method
from .dcmh import DCMHConfig, DCMHModel

register_hash_method("dcmh", DCMHConfig, DCMHModel)

__all__ = ["DCMHConfig", "DCMHModel"]
