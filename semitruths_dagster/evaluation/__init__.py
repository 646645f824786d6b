"""Evaluation of detector predictions: metrics, breakdowns, bootstrap intervals, calibrated thresholds,
figures, HTML reports and the leaderboard. No Dagster here; inputs are plain arrays.

    table = prepare_table(y_true, {"dataset": ..., "mse_bin": ..., "original_label": ..., "perturbed_label": ...},
                          clusters=source_image_of_each_row)  # once per table, shared by every detector
    result = evaluate_detector(y_true, scores, table, detector="ufd", random_weights=False)
    write_html_report(result, "reports/ufd.html")
    table = leaderboard([result, ...])
"""

from .bootstrap import confusion_intervals, ranking_intervals, recall_intervals
from .classification import confusion, metrics_from_counts, threshold_metrics
from .evaluate import EvaluationResult, evaluate_detector
from .groups import Categorical, breakdown, encode, encode_attributes, pair_categorical, ranked_pairs
from .leaderboard import leaderboard, leaderboard_markdown, write_leaderboard_html
from .plots import make_figures
from .point import PointMetrics, point_metrics
from .prepared import DEFAULT_PAIR_COLUMNS, PreparedTable, prepare_table
from .ranking import ap_from_counts, auc_from_counts, binned_counts, ranked_counts, sort_scores
from .report import random_weights_banner, render_html, write_html_report
from .thresholds import fpr_at, threshold_at_fpr

__all__ = [
    "DEFAULT_PAIR_COLUMNS",
    "PointMetrics",
    "PreparedTable",
    "Categorical",
    "EvaluationResult",
    "ap_from_counts",
    "auc_from_counts",
    "binned_counts",
    "breakdown",
    "confusion",
    "confusion_intervals",
    "encode",
    "encode_attributes",
    "evaluate_detector",
    "fpr_at",
    "leaderboard",
    "leaderboard_markdown",
    "make_figures",
    "metrics_from_counts",
    "pair_categorical",
    "point_metrics",
    "prepare_table",
    "random_weights_banner",
    "ranked_counts",
    "ranked_pairs",
    "ranking_intervals",
    "sort_scores",
    "recall_intervals",
    "render_html",
    "threshold_at_fpr",
    "threshold_metrics",
    "write_html_report",
    "write_leaderboard_html",
]
