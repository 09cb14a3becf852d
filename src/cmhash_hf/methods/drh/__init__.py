from .boosting import boosting_weights
from .configuration_drh import DRHConfig
from .modeling_drh import DRHModel, drh_balance_loss, drh_pair_loss
from .ranking import RankingHashLayer

__all__ = ["DRHConfig", "DRHModel", "RankingHashLayer", "boosting_weights", "drh_balance_loss", "drh_pair_loss"]
