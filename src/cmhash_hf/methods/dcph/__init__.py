from .configuration_dcph import DCPHConfig
from .losses_dcph import margin_dynamic_softmax_loss, proxy_network_loss
from .modeling_dcph import DCPHModel, ProxyNetwork

__all__ = [
    "DCPHConfig",
    "DCPHModel",
    "ProxyNetwork",
    "margin_dynamic_softmax_loss",
    "proxy_network_loss",
]
