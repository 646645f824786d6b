"""A detector judged as a decision rule: ranking, operating points and calibration of P(fake).

Ranking: ROC-AUC and average precision (scikit-learn). Operating points: TPR at 1% and 5% FPR (read
off scikit-learn's ROC curve with every point kept, the highest TPR whose FPR does not exceed the target), the equal error
rate (where FPR = FNR on the ROC curve, interpolated linearly between its two nearest points), and
balanced accuracy at the detector's default threshold and at the calibrated one (`thresholds`).
Calibration: expected calibration error over 15 equal-width bins of P(fake) (sum over bins of
bin share x |mean P(fake) - share of fakes|), Brier score and negative log-likelihood (scikit-learn,
probabilities clipped to [1e-7, 1 - 1e-7]), and the reliability diagram's points. Fake = 1.
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score, roc_curve

from .classification import as_inputs, threshold_metrics
from .thresholds import threshold_at_fpr

ECE_BINS = 15
EPS = 1e-7
DECISION_METRICS = ("roc_auc", "average_precision", "tpr_at_1fpr", "tpr_at_5fpr", "eer",
                    "balanced_accuracy_default", "balanced_accuracy_calibrated", "ece", "brier", "nll")


def tpr_at_fpr(y_true: np.ndarray, scores: np.ndarray, target_fpr: float) -> float:
    """The highest TPR on the ROC curve whose FPR is at most `target_fpr` (NaN without both classes)."""
    y, s = as_inputs(y_true, scores)
    if y.all() or not y.any():
        return math.nan
    # Every ROC point: a point dropped as collinear (drop_intermediate) is still a reachable threshold.
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    return float(tpr[fpr <= target_fpr + 1e-12].max())


def equal_error_rate(y_true: np.ndarray, scores: np.ndarray) -> float:
    """The error rate where FPR equals FNR (1 - TPR), linearly interpolated on the ROC curve."""
    y, s = as_inputs(y_true, scores)
    if y.all() or not y.any():
        return math.nan
    fpr, tpr, _ = roc_curve(y, s)
    fnr = 1.0 - tpr
    diff = fpr - fnr  # rises from -1 (fpr 0, fnr 1) to +1
    i = int(np.argmax(diff >= 0))
    if i == 0 or diff[i] == 0:
        return float(fpr[i])
    # Crossing between points i-1 and i: solve fpr = fnr along the segment.
    t = -diff[i - 1] / (diff[i] - diff[i - 1])
    return float(fpr[i - 1] + t * (fpr[i] - fpr[i - 1]))


def reliability(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS) -> dict[str, np.ndarray]:
    """Per equal-width bin of P(fake): count, mean P(fake) and share of fakes (NaN in empty bins)."""
    y, p = as_inputs(y_true, probabilities)
    p = np.clip(p, 0.0, 1.0)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1], right=True), 0, n_bins - 1)  # bins (a, b], first [0, b]
    count = np.bincount(index, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        confidence = np.bincount(index, weights=p, minlength=n_bins) / count
        accuracy = np.bincount(index, weights=y.astype(float), minlength=n_bins) / count
    return {"edges": edges, "count": count, "mean_probability": confidence, "fake_share": accuracy}


def expected_calibration_error(y_true: np.ndarray, probabilities: np.ndarray, n_bins: int = ECE_BINS) -> float:
    table = reliability(y_true, probabilities, n_bins)
    filled = table["count"] > 0
    if not filled.any():
        return math.nan
    weights = table["count"][filled] / table["count"].sum()
    gaps = np.abs(table["mean_probability"][filled] - table["fake_share"][filled])
    return float(np.sum(weights * gaps))


def decision_metrics(y_true: np.ndarray, scores: np.ndarray, default_threshold: float,
                     calibrated_threshold: float | None = None, target_fpr: float = 0.05) -> dict[str, float]:
    """Every decision-rule metric of one set of rows (NaN where a class is missing).

    `calibrated_threshold` is normally the one fitted on the clean condition's real images, so that
    a post-processing condition is judged at the operating point the detector was deployed with;
    without it the threshold is fitted on these rows."""
    y, s = as_inputs(y_true, scores)
    both = bool(y.any() and not y.all())
    p = np.clip(s, EPS, 1 - EPS)
    if calibrated_threshold is None:
        calibrated_threshold = threshold_at_fpr(y, s, target_fpr)
    out = {
        "n": float(y.size), "n_fake": float(y.sum()), "n_real": float((~y).sum()),
        "roc_auc": float(roc_auc_score(y, s)) if both else math.nan,
        "average_precision": float(average_precision_score(y, s)) if both else math.nan,
        "tpr_at_1fpr": tpr_at_fpr(y, s, 0.01), "tpr_at_5fpr": tpr_at_fpr(y, s, 0.05),
        "eer": equal_error_rate(y, s),
        "balanced_accuracy_default": threshold_metrics(y, s, default_threshold)["balanced_accuracy"] if y.size
        else math.nan,
        "ece": expected_calibration_error(y, s) if y.size else math.nan,
        "brier": float(brier_score_loss(y, p)) if y.size else math.nan,
        "nll": float(log_loss(y, p, labels=[0, 1])) if y.size else math.nan,
        "calibrated_threshold": float(calibrated_threshold),
    }
    if y.size and not math.isnan(calibrated_threshold):
        at = threshold_metrics(y, s, calibrated_threshold)
        out |= {"balanced_accuracy_calibrated": at["balanced_accuracy"], "fake_recall_calibrated": at["fake_recall"],
                "real_fpr_calibrated": 1.0 - at["real_recall"] if out["n_real"] else math.nan}
    else:
        out |= {"balanced_accuracy_calibrated": math.nan, "fake_recall_calibrated": math.nan,
                "real_fpr_calibrated": math.nan}
    out["fake_recall_default"] = threshold_metrics(y, s, default_threshold)["fake_recall"] if y.size else math.nan
    return out
