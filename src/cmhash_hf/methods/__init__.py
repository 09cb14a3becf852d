"""One folder per hashing method: ``configuration_<name>.py`` and ``modeling_<name>.py``.

Importing this package registers every method with `register_hash_method` (and so with AutoConfig/AutoModel).
"""

from ..auto import register_hash_method
from .cdhtk import CDHTKConfig, CDHTKModel
from .dbrc import DBRCConfig, DBRCModel
from .dcmh import DCMHConfig, DCMHModel
from .dcph import DCPHConfig, DCPHModel
from .dfah import DFAHConfig, DFAHModel
from .drh import DRHConfig, DRHModel
from .dth import DTHConfig, DTHModel
from .gancmh import GANCMHConfig, GANCMHModel

register_hash_method("cdhtk", CDHTKConfig, CDHTKModel)
register_hash_method("dbrc", DBRCConfig, DBRCModel)
register_hash_method("dcmh", DCMHConfig, DCMHModel)
register_hash_method("dcph", DCPHConfig, DCPHModel)
register_hash_method("dfah", DFAHConfig, DFAHModel)
register_hash_method("drh", DRHConfig, DRHModel)
register_hash_method("dth", DTHConfig, DTHModel)
register_hash_method("gancmh", GANCMHConfig, GANCMHModel)

__all__ = [
    "CDHTKConfig",
    "CDHTKModel",
    "DBRCConfig",
    "DBRCModel",
    "DCMHConfig",
    "DCMHModel",
    "DCPHConfig",
    "DCPHModel",
    "DFAHConfig",
    "DFAHModel",
    "DRHConfig",
    "DRHModel",
    "DTHConfig",
    "DTHModel",
    "GANCMHConfig",
    "GANCMHModel",
]
