"""Threshold-free metrics (ROC-AUC, average precision) and curves, from one sort of the scores.

Computed the way scikit-learn does (`_binary_clf_curve`: distinct thresholds in decreasing order, ties
kept together; AUC by the trapezoid rule; AP = sum (R_n - R_{n-1}) P_n), so results equal
`roc_auc_score` / `average_precision_score`. The same formulas run on per-bin counts for the bootstrap.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RankedCounts:
    """Positives (fakes) and negatives (reals) per distinct score (or score bin), highest score first."""

    thresholds: np.ndarray
    pos: np.ndarray
    neg: np.ndarray

    @property
    def n_pos(self) -> int:
        return int(self.pos.sum())

    @property
    def n_neg(self) -> int:
        return int(self.neg.sum())


@dataclass(frozen=True)
class SortedScores:
    """One sort of a detector's scores, shared by the ranking metrics, the curves and the bootstrap:
    `order` (row indices, highest score first; order within ties arbitrary, as everything here sums
    over ties), the rows' `scores` and `fake` labels in that order, and the per-distinct-score counts."""

    order: np.ndarray
    scores: np.ndarray
    fake: np.ndarray
    counts: RankedCounts


def sort_scores(y_true: np.ndarray, scores: np.ndarray) -> SortedScores:
    """Group rows by distinct score, descending. An unstable sort is enough (ties are summed), and
    several times faster than a stable one at millions of rows."""
    order = _descending_order(scores)
    s, y = scores[order], np.asarray(y_true)[order].astype(bool)
    new = np.empty(s.size, dtype=bool)
    new[:1] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], s.size]
    pos_before = np.r_[0, np.cumsum(y, dtype=np.int64)]
    pos = pos_before[ends] - pos_before[starts]
    return SortedScores(order, s, y, RankedCounts(s[starts], pos, (ends - starts) - pos))


def _descending_order(scores: np.ndarray) -> np.ndarray:
    """Row indices, highest score first. Scores that are float32 values (what detectors store) map to
    order-preserving uint32 keys, sorted as two stable 16-bit argsorts (numpy's radix sort), low half
    first: about 1.6 times faster than one sort of (key << 32 | row index), and the same order (ties by
    row index, reversed)."""
    s = np.asarray(scores, dtype=np.float64) + 0.0  # -0.0 -> 0.0: equal scores get equal keys
    f32 = s.astype(np.float32)
    if not np.array_equal(f32, s):
        return np.argsort(s)[::-1]
    bits = f32.view(np.uint32)
    key = bits ^ np.where(bits >> 31 == 1, np.uint32(0xFFFFFFFF), np.uint32(0x80000000))  # negatives reversed
    order = np.argsort(key.astype(np.uint16), kind="stable")  # the cast keeps the low 16 bits
    order = order[np.argsort((key >> np.uint32(16)).astype(np.uint16)[order], kind="stable")]
    return order[::-1]


def ranked_counts(y_true: np.ndarray, scores: np.ndarray) -> RankedCounts:
    """Group rows by distinct score, descending: counts of fakes and reals at each score."""
    return sort_scores(y_true, scores).counts


def bin_starts(counts: RankedCounts, max_bins: int) -> np.ndarray:
    """Index of the first distinct score of each bin of `binned_counts` (all of them when not merged)."""
    if counts.pos.size <= max_bins:
        return np.arange(counts.pos.size)
    cum = np.cumsum(counts.pos + counts.neg)
    edges = np.searchsorted(cum, np.linspace(0, cum[-1], max_bins + 1)[1:-1], side="left")
    starts = np.unique(np.r_[0, edges + 1])
    return starts[starts < counts.pos.size]


def binned_counts(counts: RankedCounts, max_bins: int) -> RankedCounts:
    """Merge neighbouring distinct scores into at most `max_bins` bins of about equal row count.

    Exact (no merge) when there are at most `max_bins` distinct scores; merging only adds ties, which the
    formulas count as half-wins, so the binned AUC differs from the exact one by at most the tied share.
    """
    if counts.pos.size <= max_bins:
        return counts
    starts = bin_starts(counts, max_bins)
    return RankedCounts(
        counts.thresholds[starts], np.add.reduceat(counts.pos, starts), np.add.reduceat(counts.neg, starts)
    )


def row_bins(sorted_scores: SortedScores, max_bins: int) -> np.ndarray:
    """The `binned_counts` bin of every row (0 = highest scores), in row order, from the one sort: int32
    (half the memory traffic of int64) while twice the row count fits in it, else int64."""
    counts = sorted_scores.counts
    starts = bin_starts(counts, max_bins)
    sizes = counts.pos + counts.neg
    rows_per_bin = np.add.reduceat(sizes, starts) if starts.size else np.zeros(0, np.int64)
    n = sorted_scores.order.size
    out = np.empty(n, dtype=np.int32 if 2 * n < 2**31 else np.int64)
    out[sorted_scores.order] = np.repeat(np.arange(starts.size, dtype=out.dtype), rows_per_bin)
    return out


def auc_from_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """ROC-AUC from per-group counts (last axis = groups, highest score first); NaN without both classes.

    Trapezoids over the ROC points = P(fake scores above real) + half P(tie).
    """
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    n_pos, n_neg = pos.sum(-1), neg.sum(-1)
    neg_above = np.cumsum(neg, -1) - neg  # reals strictly above each group
    wins = (pos * (n_neg[..., None] - neg_above - neg)).sum(-1) + 0.5 * (pos * neg).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), wins / (n_pos * n_neg), np.nan)


def ap_from_counts(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """Average precision from per-group counts (last axis = groups, highest first); NaN without fakes."""
    pos, neg = np.asarray(pos, dtype=np.float64), np.asarray(neg, dtype=np.float64)
    tps, fps = np.cumsum(pos, -1), np.cumsum(neg, -1)
    n_pos = tps[..., -1] if tps.shape[-1] else np.zeros(tps.shape[:-1])
    with np.errstate(invalid="ignore", divide="ignore"):
        precision = np.where(tps + fps > 0, tps / (tps + fps), 1.0)
        ap = (pos * precision).sum(-1) / n_pos
    return np.where(n_pos > 0, ap, np.nan)


def roc_curve_points(counts: RankedCounts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) starting at (0, 0) with threshold +inf, as scikit-learn's roc_curve
    (without its drop_intermediate thinning)."""
    tpr = np.r_[0.0, np.cumsum(counts.pos) / max(counts.n_pos, 1)]
    fpr = np.r_[0.0, np.cumsum(counts.neg) / max(counts.n_neg, 1)]
    return fpr, tpr, np.r_[np.inf, counts.thresholds]


def pr_curve_points(counts: RankedCounts) -> tuple[np.ndarray, np.ndarray]:
    """(precision, recall) from the highest threshold down, as the steps AP integrates."""
    tps, fps = np.cumsum(counts.pos), np.cumsum(counts.neg)
    precision = np.divide(tps, tps + fps, out=np.ones(tps.shape), where=(tps + fps) > 0)
    return precision, tps / max(counts.n_pos, 1)


def _thin_index(size: int, max_points: int) -> np.ndarray:
    """The points `thin_curve` keeps of a curve of `size` points."""
    if size <= max_points:
        return np.arange(size)
    return np.unique(np.linspace(0, size - 1, max_points).round().astype(int))


def thin_curve(x: np.ndarray, y: np.ndarray, max_points: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    """At most `max_points` points of a curve (evenly by index, ends kept), enough to draw it."""
    if x.size <= max_points:
        return x, y
    idx = _thin_index(x.size, max_points)
    return x[idx], y[idx]


def thinned_curves(counts: RankedCounts, max_points: int = 2000) -> tuple[np.ndarray, ...]:
    """(fpr, tpr, recall, precision): `thin_curve` of `roc_curve_points` and of `pr_curve_points`, the
    same values, divided only at the points kept (not at every distinct score)."""
    tps, fps = np.cumsum(counts.pos), np.cumsum(counts.neg)
    if not tps.size:
        return np.zeros(1), np.zeros(1), np.zeros(0), np.zeros(0)
    n_pos, n_neg = max(int(tps[-1]), 1), max(int(fps[-1]), 1)
    i = _thin_index(tps.size + 1, max_points)  # ROC points: (0, 0) first, then one per distinct score
    j = np.maximum(i - 1, 0)
    fpr, tpr = np.where(i > 0, fps[j] / n_neg, 0.0), np.where(i > 0, tps[j] / n_pos, 0.0)
    i = _thin_index(tps.size, max_points)
    tp, both = tps[i], tps[i] + fps[i]
    precision = np.divide(tp, both, out=np.ones(tp.shape), where=both > 0)
    return fpr, tpr, tp / n_pos, precision
