"""Seeded, vectorised confidence intervals: the cluster bootstrap (the default) and the row bootstrap.

Edits cluster by source image (the paper has ~48 edits per real image), and a detector that misses one
edit of an image tends to miss its siblings: rows are not independent, and resampling them as if they
were gives intervals far too narrow. `cluster_bootstrap` resamples source images instead: each drawn
image brings its real row(s) and all its edits together, drawn within strata of the clusters' class
content (reals only / edits only / both), so every resample keeps the number of images of each kind.
The calibrated threshold is chosen again inside each resample (its uncertainty is part of the interval).
Intervals are percentile intervals. Group recalls get Wilson score intervals (statsmodels), never of
zero width at 0 or 1; they treat a group's edits as independent, which `settings` and the report say.

The row bootstrap below (kept for comparison and for rows with no source image): resampling n rows with replacement only changes how many rows fall in each cell of a table (confusion
cells, score bins x class, fakes of a group), and those cell counts follow a multinomial (binomial for
two cells) with the observed shares. Drawing the cell counts directly is the row bootstrap, exactly in
distribution, at a cost independent of n. ROC-AUC and AP are resampled over score bins (exact when there
are at most `max_bins` distinct scores; see `ranking.binned_counts`). Group recalls are resampled within
each group (group sizes fixed, a stratified bootstrap) whose percentile interval is computed exactly
from its binomial distribution. Intervals are percentile intervals.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .classification import metrics_from_counts
from .ranking import RankedCounts, ap_from_counts, auc_from_counts, binned_counts, ranked_counts

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
    hits: np.ndarray, totals: np.ndarray, level: float = 0.95, method: str = "wilson"
) -> tuple[np.ndarray, np.ndarray]:
    """Per-group recall intervals: Wilson score (or 'beta': Clopper-Pearson) from statsmodels; NaN for
    empty groups. Unlike a bootstrap of the group's rows, never of zero width at a recall of 0 or 1."""
    from statsmodels.stats.proportion import proportion_confint

    hits, totals = np.asarray(hits, dtype=np.int64), np.asarray(totals, dtype=np.int64)
    lo, hi = np.full(hits.shape, np.nan), np.full(hits.shape, np.nan)
    ok = totals > 0
    if ok.any():
        lo[ok], hi[ok] = proportion_confint(hits[ok], totals[ok], alpha=1.0 - level, method=method)
        p = hits[ok] / totals[ok]  # the interval contains the estimate: no rounding past it at 0 or 1
        lo[ok], hi[ok] = np.minimum(lo[ok], p), np.maximum(hi[ok], p)
    return lo, hi


# --------------------------------------------------------------------------- cluster bootstrap


@dataclass(frozen=True)
class Clusters:
    """Rows grouped by source image: `codes` (n,) cluster of each row, `strata` (k,) stratum of each cluster."""

    codes: np.ndarray
    strata: np.ndarray

    @property
    def n(self) -> int:
        return int(self.strata.size)


def make_clusters(y_true: np.ndarray, groups: Sequence | np.ndarray | None) -> Clusters:
    """Clusters from a source-image id per row (None: every row its own cluster, i.e. the row bootstrap
    stratified by class). Strata: clusters holding reals only (1), fakes only (2), or both (3)."""
    y = np.asarray(y_true).astype(bool)
    if groups is None:
        codes = np.arange(y.size)
    else:
        keys = np.asarray([str(g) for g in groups], dtype=object)
        _, codes = np.unique(keys, return_inverse=True)
        codes = codes.reshape(-1)
        missing = np.asarray([g is None for g in groups])
        if missing.any():  # a row with no source image is a cluster of its own
            codes = codes.astype(np.int64)
            codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
            _, codes = np.unique(codes, return_inverse=True)
    k = int(codes.max(initial=-1)) + 1
    has_real = np.bincount(codes[~y], minlength=k) > 0
    has_fake = np.bincount(codes[y], minlength=k) > 0
    return Clusters(codes.astype(np.int64), has_real.astype(np.int64) + 2 * has_fake.astype(np.int64))


def cluster_weights(clusters: Clusters, n_boot: int, seed: Seed, chunk: int = 64) -> Iterator[np.ndarray]:
    """(B, k) resample weights (how often each cluster is drawn), B <= chunk per block, n_boot rows in
    all: within each stratum its m clusters are drawn m times with replacement (multinomial counts)."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(clusters.strata == s) for s in np.unique(clusters.strata)]
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = np.zeros((b, clusters.n))
        for idx in members:
            w[:, idx] = rng.multinomial(idx.size, np.full(idx.size, 1.0 / idx.size), size=b)
        yield w


def _weighted_threshold(w_sorted: np.ndarray, s_sorted: np.ndarray, target_fpr: float) -> tuple[np.ndarray, np.ndarray]:
    """`threshold_at_fpr` on weighted reals, per resample: reals sorted by score, highest first, with
    (B, R) weights. Returns (thresholds, weighted reals strictly above them)."""
    cum = np.cumsum(w_sorted, axis=1)
    total = cum[:, -1]
    k = np.floor(target_fpr * total + 1e-9)
    # The (k+1)-th highest weighted real: the first position whose cumulative weight exceeds k.
    j = np.argmax(cum > k[:, None], axis=1)
    t = s_sorted[j]
    # Reals strictly above t: the prefix of scores > t (ties with t are not above it).
    m = np.searchsorted(-s_sorted, -t, side="left")
    above = np.where(m > 0, cum[np.arange(cum.shape[0]), np.maximum(m - 1, 0)], 0.0)
    return np.where(k >= total, np.nextafter(s_sorted[-1], -np.inf), t), np.where(k >= total, total, above)


def cluster_bootstrap(
    y_true: np.ndarray,
    scores: np.ndarray,
    clusters: Clusters,
    thresholds: dict[str, float],
    *,
    target_fpr: float | None = None,
    n_boot: int = 1000,
    seed: Seed = 0,
    level: float = 0.95,
    max_bins: int = 1000,
) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]:
    """Percentile intervals by resampling clusters (source images with all their rows).

    `thresholds`: name -> fixed threshold; the name 'calibrated' (with `target_fpr`) is re-chosen inside
    every resample from its weighted reals. Returns ({name: {metric: (lo, hi)}}, {roc_auc / AP: (lo, hi)}).
    """
    y, s = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=np.float64)
    if y.size == 0 or n_boot <= 0:
        return {}, {}
    k, c = clusters.n, clusters.codes
    fake_per = np.bincount(c[y], minlength=k).astype(float)
    real_per = np.bincount(c[~y], minlength=k).astype(float)
    fixed = {n: t for n, t in thresholds.items() if not (n == "calibrated" and target_fpr is not None)}
    hits = {n: (np.bincount(c[y & (s > t)], minlength=k), np.bincount(c[~y & (s > t)], minlength=k))
            for n, t in fixed.items()}
    # Calibrated: reals sorted highest first; fakes sorted ascending for the band between thresholds.
    order_r = np.argsort(-s[~y], kind="stable")
    s_real, c_real = s[~y][order_r], c[~y][order_r]
    s_fake, c_fake = s[y], c[y]
    # Ranking: per cluster counts over the score bins of the full sample (as `ranking_intervals` uses).
    from scipy.sparse import csr_matrix

    bins = binned_counts(ranked_counts(y, s), max_bins).thresholds  # descending bin starts
    asc = bins[::-1]
    row_bin = bins.size - np.searchsorted(asc, s, side="left") - 1
    hist = {label: csr_matrix((np.ones(int(m.sum())), (c[m], row_bin[m])), shape=(k, max(bins.size, 1))).T.tocsr()
            for label, m in (("pos", y), ("neg", ~y))}

    samples: dict[str, list[dict[str, np.ndarray]]] = {n: [] for n in thresholds}
    rank: dict[str, list[np.ndarray]] = {"roc_auc": [], "average_precision": []}
    for w in cluster_weights(clusters, n_boot, seed):
        n_fake, n_real = w @ fake_per, w @ real_per
        for name, (tp_c, fp_c) in hits.items():
            tp, fp = w @ tp_c, w @ fp_c
            samples[name].append(metrics_from_counts(tp, fp, n_fake - tp, n_real - fp))
        if "calibrated" in thresholds and target_fpr is not None and s_real.size:
            t, fp = _weighted_threshold(w[:, c_real], s_real, target_fpr)
            lo, hi = float(t.min()), float(t.max())
            tp = w @ np.bincount(c_fake[s_fake > hi], minlength=k).astype(float)
            band = (s_fake > lo) & (s_fake <= hi)  # above some resample's threshold, not all
            if band.any():
                tp = tp + (w[:, c_fake[band]] * (s_fake[band][None, :] > t[:, None])).sum(axis=1)
            samples["calibrated"].append(metrics_from_counts(tp, fp, n_fake - tp, n_real - fp))
        pos, neg = (hist["pos"] @ w.T).T, (hist["neg"] @ w.T).T
        rank["roc_auc"].append(auc_from_counts(pos, neg))
        rank["average_precision"].append(ap_from_counts(pos, neg))
    intervals = {
        name: {m: _interval(np.concatenate([d[m] for d in draws]), level) for m in draws[0]}
        for name, draws in samples.items() if draws
    }
    return intervals, {m: _interval(np.concatenate(v), level) for m, v in rank.items()}
