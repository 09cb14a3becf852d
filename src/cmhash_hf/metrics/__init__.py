"""Retrieval metrics of binary codes: mAP (@all, @k, DCHMT variant), precision@k, PR by radius, NDCG, chance level,
scores by concept (a label subset, each label alone), plots.

Example:
    >>> from cmhash_hf.metrics import mean_average_precision
    >>> mean_average_precision([[1, 1]], [[1, 1], [-1, -1]], [[1]], [[1], [0]])
    1.0
"""

from .chance import chance_mean_average_precision, expected_average_precision
from .concepts import label_subset_report, per_label_map, restrict_to_labels
from .map import mean_average_precision
from .plots import plot_per_label_map, plot_pr_curve, plot_precision_at_k
from .ranking import ndcg_at_k, precision_at_k, precision_recall_by_radius
from .report import retrieval_report

__all__ = [
    "chance_mean_average_precision",
    "expected_average_precision",
    "label_subset_report",
    "mean_average_precision",
    "ndcg_at_k",
    "per_label_map",
    "plot_per_label_map",
    "plot_pr_curve",
    "plot_precision_at_k",
    "precision_at_k",
    "precision_recall_by_radius",
    "restrict_to_labels",
    "retrieval_report",
]
