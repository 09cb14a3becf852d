from .configuration_cdhtk import CDHTKConfig
from .modeling_cdhtk import CDHTKModel, TransferNetwork

__all__ = ["CDHTKConfig", "CDHTKModel", "TransferNetwork"]
