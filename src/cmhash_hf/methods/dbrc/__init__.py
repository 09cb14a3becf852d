from .configuration_dbrc import DBRCConfig
from .layers_dbrc import AdaptiveTanh, SharedBinaryLayer, reconstruction_target
from .modeling_dbrc import DBRCModel

__all__ = ["AdaptiveTanh", "DBRCConfig", "DBRCModel", "SharedBinaryLayer", "reconstruction_target"]
