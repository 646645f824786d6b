"""Response curves: fake recall (at the calibrated threshold) and AUROC as smooth functions of one
continuous change metric (area ratio, post-edit ratio, LPIPS, DreamSim, sentence similarity).

Where the paper shows 3 or 5 bins, the curve is a Gaussian-kernel (Nadaraya-Watson) average over the
edits, with the kernel on the metric's rank scale (bandwidth 0.1 of the ranks), so a skewed metric
such as area ratio is smoothed evenly. AUROC at x weighs each edit by the same kernel against every
real image (equal to scikit-learn's `roc_auc_score` with those sample weights; tested). Bands: 95%
percentile intervals of the evaluation's cluster bootstrap (`bootstrap.cluster_weights`): source images
drawn with all their edits and reals when `fake_groups` / `real_groups` are given, else edits and reals
drawn apart; every resample's curves at once, as weights on the same kernel, seeded. `crossing` is the lowest grid value at which recall is at
least the level (e.g. 0.5): "the detector stops seeing edits below x".
"""

from __future__ import annotations

import math

import numpy as np

from .bootstrap import cluster_weights, make_clusters

BANDWIDTH = 0.1
GRID = 25


def _kernel(ranks: np.ndarray, at: np.ndarray, bandwidth: float) -> np.ndarray:
    return np.exp(-0.5 * ((ranks[None, :] - at[:, None]) / bandwidth) ** 2)


def _ranks(x: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Empirical CDF of `reference` at x (mid-rank), in [0, 1]."""
    ordered = np.sort(reference)
    return (np.searchsorted(ordered, x, "left") + np.searchsorted(ordered, x, "right")) / (2.0 * ordered.size)


def win_share(fake_scores: np.ndarray, real_scores: np.ndarray) -> np.ndarray:
    """Per edit: the share of real images it outscores (ties count half). The kernel-weighted mean of
    this is the AUROC of those weighted edits against all reals (roc_auc_score with sample weights)."""
    ordered = np.sort(real_scores)
    below = np.searchsorted(ordered, fake_scores, "left")
    ties = np.searchsorted(ordered, fake_scores, "right") - below
    return (below + 0.5 * ties) / ordered.size


def _curves(x: np.ndarray, hit: np.ndarray, fake_scores: np.ndarray, real_scores: np.ndarray, grid_x: np.ndarray,
            reference: np.ndarray, bandwidth: float) -> tuple[np.ndarray, np.ndarray]:
    weights = _kernel(_ranks(x, reference), _ranks(grid_x, reference), bandwidth)
    total = weights.sum(axis=1)
    recall = weights @ hit / total
    auroc = weights @ win_share(fake_scores, real_scores) / total if real_scores.size else np.full(grid_x.size, math.nan)
    return recall, auroc


def _resampled_curves(kernel: np.ndarray, hit: np.ndarray, fake_scores: np.ndarray, real_scores: np.ndarray,
                      fake_w: np.ndarray, real_w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`_curves` of B resamples given as (B, n) edit and (B, R) real weights: (B, grid) recall and AUROC."""
    with np.errstate(invalid="ignore", divide="ignore"):
        total = fake_w @ kernel.T
        recall = (fake_w * hit) @ kernel.T / total
        if not real_scores.size:
            return recall, np.full(recall.shape, math.nan)
        order = np.argsort(real_scores, kind="stable")
        ordered = real_scores[order]
        cum = np.c_[np.zeros(len(real_w)), np.cumsum(real_w[:, order], axis=1)]  # weight of reals below each
        below, upto = (cum[:, np.searchsorted(ordered, fake_scores, side)] for side in ("left", "right"))
        wins = (below + upto) / 2 / cum[:, -1:]  # weighted `win_share`: ties count half
        return recall, (fake_w * wins) @ kernel.T / total


def response_curve(x: np.ndarray, fake_scores: np.ndarray, real_scores: np.ndarray, threshold: float,
                   n_boot: int = 200, seed: int = 0, bandwidth: float = BANDWIDTH, grid: int = GRID,
                   level: float = 0.5, fake_groups: np.ndarray | None = None,
                   real_groups: np.ndarray | None = None) -> dict[str, np.ndarray | float]:
    """Recall and AUROC on a grid of the metric (its 2nd-98th percentiles) with 95% bootstrap bands.

    x / fake_scores: one value per edit (NaN metrics are dropped); real_scores: every real image;
    fake_groups / real_groups: their source images (the bootstrap's clusters), when known."""
    x, fake_scores = np.asarray(x, dtype=float), np.asarray(fake_scores, dtype=float)
    keep = ~np.isnan(x)
    x, fake_scores = x[keep], fake_scores[keep]
    real_scores = np.asarray(real_scores, dtype=float)
    groups = None
    if fake_groups is not None and real_groups is not None:
        groups = [*np.asarray(fake_groups, dtype=object)[keep], *np.asarray(real_groups, dtype=object)]
    if x.size < 3:
        raise ValueError(f"a response curve needs at least 3 edits with the metric, got {x.size}")
    hit = (fake_scores > threshold).astype(float)
    grid_x = np.unique(np.quantile(x, np.linspace(0.02, 0.98, grid)))
    recall, auroc = _curves(x, hit, fake_scores, real_scores, grid_x, x, bandwidth)
    kernel = _kernel(_ranks(x, x), _ranks(grid_x, x), bandwidth)
    clusters = make_clusters(np.r_[np.ones(x.size), np.zeros(real_scores.size)].astype(np.int8), groups)
    boot_recall, boot_auroc = [], []
    for w in cluster_weights(clusters, n_boot, seed, chunk=256):
        rows = w[:, clusters.codes]
        r, a = _resampled_curves(kernel, hit, fake_scores, real_scores, rows[:, :x.size], rows[:, x.size:])
        boot_recall.append(r)
        boot_auroc.append(a)
    out: dict[str, np.ndarray | float] = {"x": grid_x, "recall": recall, "auroc": auroc}
    for name, boots in (("recall", boot_recall), ("auroc", boot_auroc)):
        stacked = np.concatenate(boots) if boots else np.full((1, grid_x.size), math.nan)
        with np.errstate(all="ignore"):
            out[f"{name}_low"] = np.nanpercentile(stacked, 2.5, axis=0) if boots else stacked[0]
            out[f"{name}_high"] = np.nanpercentile(stacked, 97.5, axis=0) if boots else stacked[0]
    above = np.flatnonzero(recall >= level)
    out["crossing"] = float(grid_x[above[0]]) if above.size else math.nan
    out["level"] = level
    return out
