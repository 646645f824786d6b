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

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from .classification import metrics_from_counts
from .ranking import (
    RankedCounts,
    SortedScores,
    ap_from_counts,
    auc_from_counts,
    row_bins,
    sort_scores,
)

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
    """Rows grouped by source image: `codes` (n,) cluster of each row, `strata` (k,) stratum of each cluster.
    Built once per table: the resample weights and the rows' order by cluster are cached here and shared
    by every detector evaluated on the table."""

    codes: np.ndarray
    strata: np.ndarray
    _cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def n(self) -> int:
        return int(self.strata.size)

    def class_rows(self, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(fakes, reals) of every cluster for labels `y` (bool), cached for the labels last asked for."""
        cached = self._cache.get("class_rows")
        if cached is None or not np.array_equal(cached[0], y):
            counts = (np.bincount(self.codes[y], minlength=self.n), np.bincount(self.codes[~y], minlength=self.n))
            self._cache["class_rows"] = cached = (y.copy(), counts)
        return cached[1]

    def by_cluster(self) -> tuple[np.ndarray, np.ndarray]:
        """(row indices grouped by cluster, (k + 1,) start of each cluster's rows): a CSC layout."""
        if "by_cluster" not in self._cache:
            order = np.argsort(self.codes, kind="stable")
            indptr = np.r_[0, np.cumsum(np.bincount(self.codes, minlength=self.n))]
            self._cache["by_cluster"] = (order, indptr)
        return self._cache["by_cluster"]

    def weights(self, n_boot: int, seed: Seed) -> ResampleWeights:
        """The draws of `cluster_weights` as `ResampleWeights`, cached. float32 when every sum of weighted
        row counts stays below 2**24 (sums of integers, so exact), else float64."""
        key = (n_boot, tuple(np.atleast_1d(seed).tolist()))
        if key not in self._cache:
            rows = np.bincount(self.codes, minlength=self.n)
            # Largest possible weighted row count: each stratum's draws all on its largest cluster.
            bound = sum(int((self.strata == s).sum()) * int(rows[self.strata == s].max()) for s in np.unique(self.strata))
            dtype = np.float32 if bound < 2**24 else np.float64
            full = np.concatenate([w.T.astype(dtype) for w in cluster_weights(self, n_boot, seed)], axis=1)
            self._cache[key] = ResampleWeights(
                [np.ascontiguousarray(full[:, i:i + BLOCK]) for i in range(0, n_boot, BLOCK)])
        return self._cache[key]


BLOCK = 128  # resamples per block: a sparse product's output rows of a block stay in the L2 cache


@dataclass(frozen=True)
class ResampleWeights:
    """(k, B) weights of k clusters in B resamples, stored as C-contiguous column blocks of `BLOCK`."""

    blocks: list[np.ndarray]

    @property
    def dtype(self) -> np.dtype:
        return self.blocks[0].dtype

    @property
    def n_boot(self) -> int:
        return sum(b.shape[1] for b in self.blocks)

    def sums(self, per_cluster: np.ndarray) -> np.ndarray:
        """Weighted sums of per-cluster values for every resample: (..., k) -> (..., B) float64, computed
        in the weights' dtype (float32 only where the integer sums are exact)."""
        x = np.asarray(per_cluster, dtype=self.dtype)
        return np.concatenate([x @ b for b in self.blocks], axis=-1).astype(np.float64)

    def take(self, clusters: np.ndarray) -> np.ndarray:
        """(len(clusters), B): the weights of the given clusters (with repeats)."""
        return np.concatenate([b[clusters] for b in self.blocks], axis=1)

    def times(self, matrix) -> np.ndarray:
        """(rows, B) float64: a (rows, k) sparse matrix (CSC, by cluster) times the weights, block by block,
        on two threads where there are two cores (scipy's sparse product releases the GIL)."""
        workers = min(2, os.cpu_count() or 1, len(self.blocks))
        if workers > 1:
            with ThreadPoolExecutor(workers) as pool:
                parts = list(pool.map(matrix.__matmul__, self.blocks))
        else:
            parts = [matrix @ b for b in self.blocks]
        return np.concatenate(parts, axis=1).astype(np.float64)


def make_clusters(y_true: np.ndarray, groups: Sequence | np.ndarray | None) -> Clusters:
    """Clusters from a source-image id per row (None: every row its own cluster, i.e. the row bootstrap
    stratified by class). Strata: clusters holding reals only (1), fakes only (2), or both (3)."""
    from .groups import _sorted_factorize

    y = np.asarray(y_true).astype(bool)
    if groups is None:
        codes = np.arange(y.size)
    else:
        arr = np.asarray(groups, dtype=object)
        missing = np.equal(arr, None)
        keys = arr if all(isinstance(g, str) for g in arr) else np.array([str(g) for g in arr], dtype=object)
        _, codes = _sorted_factorize(keys)  # codes of the sorted distinct ids, as np.unique gives
        if missing.any():  # a row with no source image is a cluster of its own
            codes = codes.astype(np.int64)
            codes[missing] = codes.max(initial=-1) + 1 + np.arange(int(missing.sum()))
            _, codes = np.unique(codes, return_inverse=True)
    k = int(codes.max(initial=-1)) + 1
    out = Clusters(codes.astype(np.int64), np.zeros(k, dtype=np.int64))
    fakes, reals = out.class_rows(y)
    out.strata[:] = (reals > 0).astype(np.int64) + 2 * (fakes > 0).astype(np.int64)
    return out


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


def _band(s_real: np.ndarray, target_fpr: float, half: int | None = None) -> tuple[int, int, int]:
    """Positions [a, b) around the unweighted answer, `a` at the start of a tie run, and the half-width:
    first 6 standard deviations of the unweighted position (binomial), then twice the last."""
    r = s_real.size
    half = max(128, int(6 * np.sqrt(r * target_fpr * (1 - target_fpr)))) if half is None else 2 * half
    center = int(target_fpr * r)
    a, b = max(center - half, 0), min(center + half, r)
    if a < r:
        a = int(np.searchsorted(-s_real, -s_real[a], side="left"))
    return a, b, half


def _banded_threshold(
    wt: ResampleWeights, c_real: np.ndarray, s_real: np.ndarray, target_fpr: float, total: np.ndarray,
    first_base: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """`_weighted_threshold` for (k, B) cluster weights, reals sorted highest first, without the (B, R)
    cumulative sum: every resample's answer lies in a narrow band of positions around the unweighted
    one (`total`: the reals' weight in each resample; `first_base`: their weight above the first band, when
    the caller has it). The weight above the band is one matrix-vector product and only the band is
    summed; it widens until it holds every resample's answer (all the reals at worst): same result."""
    r, k = s_real.size, int(wt.blocks[0].shape[0])
    neg = -s_real
    kk = np.floor(target_fpr * total + 1e-9)
    ok = kk < total  # the others flag every real
    half = None
    while True:
        a, b, half = _band(s_real, target_fpr, half)
        if (b - a) * total.size > 50_000_000:  # answers spread widely: the whole cumulative sum, in blocks
            parts = [_weighted_threshold(block[c_real, i:i + 32].T, s_real, target_fpr)
                     for block in wt.blocks for i in range(0, block.shape[1], 32)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        base = first_base if first_base is not None else wt.sums(np.bincount(c_real[:a], minlength=k))
        first_base = None
        cum = np.cumsum(wt.take(c_real[a:b]), axis=0, dtype=np.float64) + base  # (b - a, B)
        if ((base <= kk) | ~ok).all() and (b == r or ((cum[-1] > kk) | ~ok).all()):
            break
    cols = np.arange(total.size)
    j = a + np.argmax(cum > kk, axis=0)  # the first position whose cumulative weight exceeds k
    t = s_real[np.minimum(j, r - 1)]
    m = np.searchsorted(neg, -t, side="left")  # reals strictly above t: the rows before t's tie run
    above = np.where(m > a, cum[np.maximum(m - 1 - a, 0), cols], base)
    return np.where(ok, t, np.nextafter(s_real[-1], -np.inf)), np.where(ok, above, total)


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
    sorted_scores: SortedScores | None = None,
) -> tuple[dict[str, dict[str, tuple[float, float]]], dict[str, tuple[float, float]]]:
    """Percentile intervals by resampling clusters (source images with all their rows).

    `thresholds`: name -> fixed threshold; the name 'calibrated' (with `target_fpr`) is re-chosen inside
    every resample from its weighted reals. Returns ({name: {metric: (lo, hi)}}, {roc_auc / AP: (lo, hi)}).
    A resample is a weight per cluster (`Clusters.weights`, shared by the detectors of a table): every
    count is a weighted sum of per-cluster counts, all resamples at once in a few matrix products.
    `sorted_scores`: the scores' `sort_scores`, when the caller has it already.
    """
    y, s = np.asarray(y_true).astype(bool), np.asarray(scores, dtype=np.float64)
    if y.size == 0 or n_boot <= 0:
        return {}, {}
    srt = sorted_scores if sorted_scores is not None else sort_scores(y, s)
    wt = clusters.weights(n_boot, seed)
    k, c = clusters.n, clusters.codes
    calibrate = "calibrated" in thresholds and target_fpr is not None
    fixed = {n: t for n, t in thresholds.items() if not (n == "calibrated" and target_fpr is not None)}
    per_cluster = list(clusters.class_rows(y))
    for t in fixed.values():
        hit = s > t
        per_cluster += [np.bincount(c[y & hit], minlength=k), np.bincount(c[~y & hit], minlength=k)]
    real_rows = srt.order[~srt.fake]  # reals, highest score first
    if calibrate and real_rows.size:  # the reals' weight above the first band, in the same product
        c_real, s_real = c[real_rows], srt.scores[~srt.fake]
        per_cluster.append(np.bincount(c_real[:_band(s_real, target_fpr)[0]], minlength=k))
    sums = wt.sums(np.stack(per_cluster))
    n_fake, n_real = sums[0], sums[1]
    counts = {name: (sums[2 + 2 * i], sums[3 + 2 * i]) for i, name in enumerate(fixed)}
    if calibrate and real_rows.size:
        t, fp = _banded_threshold(wt, c_real, s_real, target_fpr, n_real, first_base=sums[-1])
        lo, hi = float(t.min()), float(t.max())
        s_fake, c_fake = s[y], c[y]
        tp = wt.sums(np.bincount(c_fake[s_fake > hi], minlength=k))
        band = np.flatnonzero((s_fake > lo) & (s_fake <= hi))  # above some resample's threshold, not all
        step = max(1, 4_000_000 // max(t.size, 1))
        for i in range(0, band.size, step):
            part = band[i:i + step]
            tp += ((s_fake[part][:, None] > t[None, :]) * wt.take(c_fake[part])).sum(axis=0, dtype=np.float64)
        counts["calibrated"] = (tp, fp)
    intervals = {}
    for name in thresholds:
        if name in counts:
            tp, fp = counts[name]
            values = metrics_from_counts(tp, fp, n_fake - tp, n_real - fp)
            intervals[name] = {m: _interval(v, level) for m, v in values.items()}
    # Ranking: per cluster counts over the score bins of the full sample (as `ranking_intervals` uses),
    # a (2 x bins, k) sparse matrix by cluster (CSC: each cluster's weights read once), times the weights.
    from scipy.sparse import csc_matrix

    row_bin = row_bins(srt, max_bins)
    nb = int(row_bin.max()) + 1
    rows, indptr = clusters.by_cluster()
    hist_rows = (row_bin + row_bin.dtype.type(nb) * ~y)[rows]  # in row_bin's dtype (int32 at this scale)
    if hist_rows.dtype == np.int32 and indptr[-1] < 2**31:  # scipy's index dtype as is: no conversion pass
        indptr = indptr.astype(np.int32)
    hist = csc_matrix((np.ones(rows.size, wt.dtype), hist_rows, indptr), shape=(2 * nb, k))
    both = wt.times(hist)
    pos, neg = both[:nb].T, both[nb:].T
    rank = {"roc_auc": _interval(auc_from_counts(pos, neg), level),
            "average_precision": _interval(ap_from_counts(pos, neg), level)}
    return intervals, rank
