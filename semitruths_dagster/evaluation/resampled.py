"""Intervals of the decision metrics (robustness, controls and per-bin tables), paired across subsets.

The resampling is the evaluation's own cluster bootstrap (`bootstrap.make_clusters` /
`cluster_weights`): source images are drawn with replacement, each bringing all its rows (its real
image, its edits, their controls, under every condition). Every subset of rows (a condition, a
control, a bin) is measured on the same draws, so the interval of a difference (a condition's drop
from clean, pasted-back minus edits recall) is that of the paired difference, image by image.

Each subset is reduced once to per-cluster sums (its sufficient statistics: class counts, hits at
fixed thresholds, Brier / log-loss sums, ECE-bin sums, score-bin histograms); a resample is then a
weight per cluster, and every metric of B resamples is a few matrix products. With unit weights the
formulas give `decision.decision_metrics` exactly (tested), ROC-AUC / AP / TPR@FPR / EER on score
bins exact up to `max_bins` distinct scores (as the evaluation's intervals). The thresholds stay
fixed (the clean calibrated one is the deployed operating point), so these intervals leave out that
threshold's own sampling error, which the headline report's intervals include.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix

from .bootstrap import Seed, _interval, cluster_weights, make_clusters
from .classification import metrics_from_counts
from .decision import ECE_BINS, EPS
from .ranking import ap_from_counts, auc_from_counts, binned_counts, ranked_counts

INTERVAL_METRICS = ("roc_auc", "average_precision", "tpr_at_1fpr", "tpr_at_5fpr", "eer",
                    "balanced_accuracy_default", "balanced_accuracy_calibrated", "fake_recall_calibrated",
                    "real_fpr_calibrated", "flagged_calibrated", "ece", "brier", "nll")


@dataclass(frozen=True)
class Summary:
    """One subset's per-cluster sums: `additive` (k, m) columns named by `columns`; `pos` / `neg`
    (bins, k) histograms of fakes / reals over score bins, highest score first."""

    additive: np.ndarray
    columns: dict[str, int]
    pos: csr_matrix
    neg: csr_matrix


def summarize(y: np.ndarray, s: np.ndarray, codes: np.ndarray, k: int, thresholds: Mapping[str, float],
              max_bins: int = 1000) -> Summary:
    """Per-cluster sufficient statistics of rows (label y, P(fake) s, cluster code) at fixed thresholds."""
    y, s = np.asarray(y).astype(bool), np.asarray(s, dtype=np.float64)
    p = np.clip(s, EPS, 1 - EPS)
    ece_bin = np.clip(np.digitize(np.clip(s, 0, 1), np.linspace(0, 1, ECE_BINS + 1)[1:-1], right=True),
                      0, ECE_BINS - 1)
    cols: dict[str, np.ndarray] = {
        "n_fake": y.astype(float), "n_real": (~y).astype(float),
        "brier": (p - y) ** 2, "nll": -(y * np.log(p) + (~y) * np.log(1 - p)),
    }
    for name, t in thresholds.items():
        hit = s > t if not math.isnan(t) else np.zeros(s.size, bool)
        cols[f"tp_{name}"], cols[f"fp_{name}"] = (y & hit).astype(float), (~y & hit).astype(float)
    for b in range(ECE_BINS):  # mean P(fake) - share of fakes, summed per ECE bin
        cols[f"ece_{b}"] = np.where(ece_bin == b, np.clip(s, 0, 1) - y, 0.0)
    names = list(cols)
    additive = np.zeros((k, len(names)))
    for j, name in enumerate(names):
        additive[:, j] = np.bincount(codes, weights=cols[name], minlength=k)
    bins = binned_counts(ranked_counts(y, s), max_bins).thresholds  # descending bin starts
    row_bin = bins.size - np.searchsorted(bins[::-1], s, side="left") - 1
    width = max(bins.size, 1)
    hist = [csr_matrix((np.ones(int(m.sum())), (row_bin[m], codes[m])), shape=(width, k)) for m in (y, ~y)]
    return Summary(additive, {n: j for j, n in enumerate(names)}, hist[0], hist[1])


def _roc_points(pos: np.ndarray, neg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(B, bins + 1) FPR and TPR from (0, 0) down the thresholds (NaN rows without both classes)."""
    tps, fps = np.cumsum(pos, axis=1), np.cumsum(neg, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        tpr = np.c_[np.zeros(len(pos)), tps / tps[:, -1:]]
        fpr = np.c_[np.zeros(len(neg)), fps / fps[:, -1:]]
    return fpr, tpr


def _tpr_at(fpr: np.ndarray, tpr: np.ndarray, target: float) -> np.ndarray:
    """The highest TPR whose FPR is at most the target (as `decision.tpr_at_fpr`)."""
    ok = np.isfinite(fpr[:, -1]) & np.isfinite(tpr[:, -1])
    with np.errstate(invalid="ignore"):
        best = np.where(fpr <= target + 1e-12, tpr, -np.inf).max(axis=1)
    return np.where(ok, best, np.nan)


def _eer(fpr: np.ndarray, tpr: np.ndarray) -> np.ndarray:
    """FPR = FNR, linearly interpolated on the ROC (as `decision.equal_error_rate`)."""
    ok = np.isfinite(fpr[:, -1]) & np.isfinite(tpr[:, -1])
    diff = np.nan_to_num(fpr - (1.0 - tpr), nan=1.0)  # rises from -1 to +1
    rows = np.arange(len(diff))
    i = np.argmax(diff >= 0, axis=1)
    prev = np.maximum(i - 1, 0)
    d0, d1 = diff[rows, prev], diff[rows, i]
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where((i == 0) | (d1 == 0), 0.0, -d0 / (d1 - d0))
    at = np.where((i == 0) | (d1 == 0), fpr[rows, i], fpr[rows, prev] + t * (fpr[rows, i] - fpr[rows, prev]))
    return np.where(ok, at, np.nan)


def weighted_metrics(summary: Summary, w: np.ndarray) -> dict[str, np.ndarray]:
    """Every interval metric of B resamples given as (B, k) cluster weights: (B,) arrays."""
    a = w @ summary.additive
    col = {n: a[:, j] for n, j in summary.columns.items()}
    n_fake, n_real = col["n_fake"], col["n_real"]
    n = n_fake + n_real
    pos, neg = (summary.pos @ w.T).T, (summary.neg @ w.T).T
    fpr, tpr = _roc_points(pos, neg)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = {
            "roc_auc": auc_from_counts(pos, neg), "average_precision": ap_from_counts(pos, neg),
            "tpr_at_1fpr": _tpr_at(fpr, tpr, 0.01), "tpr_at_5fpr": _tpr_at(fpr, tpr, 0.05), "eer": _eer(fpr, tpr),
            "ece": np.abs(np.stack([col[f"ece_{b}"] for b in range(ECE_BINS)], axis=1)).sum(axis=1) / n,
            "brier": col["brier"] / n, "nll": col["nll"] / n,
        }
        for name in ("default", "calibrated"):
            if f"tp_{name}" not in col:
                continue
            tp, fp = col[f"tp_{name}"], col[f"fp_{name}"]
            m = metrics_from_counts(tp, fp, n_fake - tp, n_real - fp)
            out[f"balanced_accuracy_{name}"] = np.where(n > 0, m["balanced_accuracy"], np.nan)
            out[f"fake_recall_{name}"] = np.where(n_fake > 0, tp / n_fake, np.nan)
            out[f"real_fpr_{name}"] = np.where(n_real > 0, fp / n_real, np.nan)
            out[f"flagged_{name}"] = (tp + fp) / n  # share called fake, whatever the class
    return out


def resampled_intervals(
    labels: np.ndarray,
    scores: np.ndarray,
    groups: Sequence | None,
    subsets: Mapping[str, np.ndarray],
    thresholds: Mapping[str, float],
    *,
    differences: Sequence[tuple[str, str, str]] = (),
    n_boot: int = 1000,
    seed: Seed = 0,
    level: float = 0.95,
    max_bins: int = 1000,
) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, dict[str, tuple[float, float]]]]:
    """Percentile intervals of every metric of every subset, and of paired differences.

    `labels` / `scores` / `groups`: per row of the whole frame (`groups`: its source image; None: each
    row its own cluster, so subsets are not paired). `subsets`: name -> row indices (or a boolean mask).
    `differences`: (name, a, b) for a - b, computed resample by resample. Returns ({subset: {metric:
    (lo, hi)}}, {difference: {metric: (lo, hi)}}); empty when n_boot <= 0."""
    y, s = np.asarray(labels).astype(np.int8), np.asarray(scores, dtype=np.float64)
    index = {name: np.flatnonzero(ix) if np.asarray(ix).dtype == bool else np.asarray(ix, dtype=np.int64)
             for name, ix in subsets.items()}
    used = np.unique(np.concatenate([*index.values(), np.zeros(0, np.int64)]))
    if n_boot <= 0 or used.size == 0:
        return {}, {}
    # Clusters over the rows that take part (their strata must not count rows of no subset).
    clusters = make_clusters(y[used], None if groups is None else [groups[i] for i in used])
    codes = np.full(y.size, -1, dtype=np.int64)
    codes[used] = clusters.codes
    summaries = {name: summarize(y[ix], s[ix], codes[ix], clusters.n, thresholds, max_bins)
                 for name, ix in index.items()}
    draws: dict[str, list[dict[str, np.ndarray]]] = {name: [] for name in summaries}
    # Few clusters (a demo): every resample in one block; many: blocks of about a million weights.
    chunk = max(64, min(n_boot, 1_000_000 // max(clusters.n, 1)))
    for w in cluster_weights(clusters, n_boot, seed, chunk):
        for name, summary in summaries.items():
            draws[name].append(weighted_metrics(summary, w))
    samples = {name: {m: np.concatenate([d[m] for d in ds]) for m in ds[0]} for name, ds in draws.items()}
    intervals = {name: {m: _interval(v, level) for m, v in sample.items()} for name, sample in samples.items()}
    diffs = {name: {m: _interval(samples[a][m] - samples[b][m], level) for m in samples[a]}
             for name, a, b in differences if a in samples and b in samples}
    return intervals, diffs
