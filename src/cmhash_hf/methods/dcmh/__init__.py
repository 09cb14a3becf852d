from .configuration_dcmh import DCMHConfig
from .modeling_dcmh import DCMHModel, DCMHTrainingState, dcmh_loss

__all__ = ["DCMHConfig", "DCMHModel", "DCMHTrainingState", "dcmh_loss"]
