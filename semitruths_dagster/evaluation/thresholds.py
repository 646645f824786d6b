"""Calibrated thresholds: the decision threshold that holds the false-positive rate on real images.

With the rule "fake iff score > t", FPR(t) = #(real scores > t) / #real. The smallest t with
FPR(t) <= target is the (k+1)-th highest real score, k = floor(target * #real): at most k reals lie
strictly above it. Reported beside the detector's default threshold, because a default of 0.5 on an
uncalibrated detector says little (the paper's code reported only threshold-0.5 figures).
"""

from __future__ import annotations

import math

import numpy as np


def threshold_at_fpr(y_true: np.ndarray, scores: np.ndarray, target_fpr: float = 0.05) -> float:
    """The smallest threshold whose FPR on the real rows (y_true == 0) is at most `target_fpr`.

    NaN when there are no real rows. With target 1 every real may be flagged: just below the lowest.
    """
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target_fpr must lie in [0, 1], got {target_fpr}")
    real = np.asarray(scores, dtype=np.float64)[np.asarray(y_true) == 0]
    if real.size == 0:
        return math.nan
    k = int(math.floor(target_fpr * real.size + 1e-9))  # tolerance: 0.05 * 100 must give 5, not 4
    if k >= real.size:
        return float(np.nextafter(real.min(), -np.inf))
    # The (k+1)-th highest real score, by partial sort (no full sort of millions of rows).
    return float(np.partition(real, real.size - 1 - k)[real.size - 1 - k])


def fpr_at(y_true: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """Share of real rows scored above the threshold."""
    real = np.asarray(scores, dtype=np.float64)[np.asarray(y_true) == 0]
    return float(np.mean(real > threshold)) if real.size else math.nan


def calibrated_threshold(real_desc: np.ndarray, target_fpr: float = 0.05) -> float:
    """`threshold_at_fpr` from the real scores already sorted highest first."""
    if not 0.0 <= target_fpr <= 1.0:
        raise ValueError(f"target_fpr must lie in [0, 1], got {target_fpr}")
    if real_desc.size == 0:
        return math.nan
    k = int(math.floor(target_fpr * real_desc.size + 1e-9))  # as threshold_at_fpr
    if k >= real_desc.size:
        return float(np.nextafter(real_desc[-1], -np.inf))
    return float(real_desc[k])
