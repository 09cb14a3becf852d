from .configuration_dfah import DFAHConfig
from .modeling_dfah import DFAHModel, DFAHTrainingState

__all__ = ["DFAHConfig", "DFAHModel", "DFAHTrainingState"]
