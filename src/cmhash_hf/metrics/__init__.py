"""Retrieval metrics of binary codes: mAP (@all, @k, DCHMT variant), precision@k, PR by radius, NDCG, chance level, plots.

Example:
    >>> from cmhash_hf.metrics import mean_average_precision
    >>> mean_average_precision([[1, 1]], [[1, 1], [-1, -1]], [[1]], [[1], [0]])
    1.0
"""

from .chance import chance_mean_average_precision, expected_average_precision
from .map import mean_average_precision
from .plots import plot_pr_curve, plot_precision_at_k
from .ranking import ndcg_at_k, precision_at_k, precision_recall_by_radius
from .report import retrieval_report

__all__ = [
    "chance_mean_average_precision",
    "expected_average_precision",
    "mean_average_precision",
    "ndcg_at_k",
    "plot_pr_curve",
    "plot_precision_at_k",
    "precision_at_k",
    "precision_recall_by_radius",
    "retrieval_report",
]
