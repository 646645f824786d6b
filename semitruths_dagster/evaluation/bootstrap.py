"""Seeded, vectorised bootstrap confidence intervals.

Resampling n rows with replacement only changes how many rows fall in each cell of a table (confusion
cells, score bins x class, fakes of a group), and those cell counts follow a multinomial (binomial for
two cells) with the observed shares. Drawing the cell counts directly is the row bootstrap, exactly in
distribution, at a cost independent of n. ROC-AUC and AP are resampled over score bins (exact when there
are at most `max_bins` distinct scores; see `ranking.binned_counts`). Group recalls are resampled within
each group (group sizes fixed, a stratified bootstrap) whose percentile interval is computed exactly
from its binomial distribution. Intervals are percentile intervals.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .classification import metrics_from_counts
from .ranking import RankedCounts, ap_from_counts, auc_from_counts

# An int or a list of ints (e.g. [seed, stream]): numpy's default_rng takes both.
Seed = int | Sequence[int]


def _interval(samples: np.ndarray, level: float) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    if np.all(np.isnan(samples)):
        return float("nan"), float("nan")
    lo, hi = np.nanquantile(samples, [tail, 1.0 - tail], axis=0)
    return float(lo), float(hi)


def confusion_intervals(
    counts: dict[str, int], n_boot: int = 1000, seed: Seed = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Intervals of every `metrics_from_counts` metric from multinomial draws of (tp, fp, fn, tn)."""
    cells = np.array([counts["tp"], counts["fp"], counts["fn"], counts["tn"]], dtype=np.int64)
    n = int(cells.sum())
    if n == 0 or n_boot <= 0:
        return {}
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=n_boot)
    values = metrics_from_counts(draws[:, 0], draws[:, 1], draws[:, 2], draws[:, 3])
    return {name: _interval(v, level) for name, v in values.items()}


def ranking_intervals(
    counts: RankedCounts, n_boot: int = 1000, seed: Seed = 0, level: float = 0.95
) -> dict[str, tuple[float, float]]:
    """Intervals of ROC-AUC and AP from multinomial draws over (score bin x class) cells."""
    cells = np.concatenate([counts.pos, counts.neg]).astype(np.int64)
    n = int(cells.sum())
    if n == 0 or n_boot <= 0:
        return {}
    draws = np.random.default_rng(seed).multinomial(n, cells / n, size=n_boot)
    k = counts.pos.size
    pos, neg = draws[:, :k], draws[:, k:]
    return {
        "roc_auc": _interval(auc_from_counts(pos, neg), level),
        "average_precision": _interval(ap_from_counts(pos, neg), level),
    }


def recall_intervals(
    hits: np.ndarray, totals: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group recall intervals of the within-group bootstrap, exactly: NaN for empty groups.

    Resampling a group's n fakes gives Binomial(n, hits/n) hits, so the percentile interval is that
    binomial's quantiles / n, computed directly (scipy's ppf, vectorised) instead of by drawing: there
    can be ~10^5 edit pairs, and draws x pairs would not fit in time or memory. No seed needed.
    """
    from scipy.stats import binom

    hits, totals = np.asarray(hits, dtype=np.int64), np.asarray(totals, dtype=np.int64)
    p = np.divide(hits, totals, out=np.zeros(hits.shape), where=totals > 0)
    tail = (1.0 - level) / 2.0
    n = np.maximum(totals, 1)
    lo, hi = binom.ppf(tail, n, p) / n, binom.ppf(1.0 - tail, n, p) / n
    empty = totals == 0
    lo[empty], hi[empty] = np.nan, np.nan
    return np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
