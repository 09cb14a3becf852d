from .configuration_gancmh import GANCMHConfig
from .modeling_gancmh import GANCMHModel

__all__ = ["GANCMHConfig", "GANCMHModel"]
