from .configuration_dcmh import DCMHConfig
from .modeling_dcmh import DCMHModel, dcmh_loss

__all__ = ["DCMHConfig", "DCMHModel", "dcmh_loss"]
