from .configuration_dfah import DFAHConfig
from .modeling_dfah import DFAHModel, unified_codes

__all__ = ["DFAHConfig", "DFAHModel", "unified_codes"]
