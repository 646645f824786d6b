"""Intervals that cover (issue 12, item 7): the cluster bootstrap by source image, Wilson group intervals,
the calibrated threshold chosen inside each resample, and a minimum count for ranking groups."""

from __future__ import annotations

import html

import numpy as np
import pytest
from scipy.stats import norm

from semitruths_dagster.evaluation import evaluate_detector
from semitruths_dagster.evaluation.bootstrap import (
    _weighted_threshold,
    cluster_bootstrap,
    confusion_intervals,
    make_clusters,
    recall_intervals,
)
from semitruths_dagster.evaluation.report import render_html
from semitruths_dagster.evaluation.thresholds import threshold_at_fpr

MU, SD_IMAGE, SD_EDIT = 0.5, 2.0, 0.5  # an image's edits share most of their detectability
TRUE_RECALL = float(norm.cdf(MU / np.hypot(SD_IMAGE, SD_EDIT)))  # P(u + e > 0): score > 0.5


def _dataset(rng: np.random.Generator, n_images: int = 60, edits: int = 20):
    """One real row and `edits` edited rows per source image; fake logits u_image + e_edit."""
    u = rng.normal(MU, SD_IMAGE, n_images)
    logit_fake = np.repeat(u, edits) + rng.normal(0, SD_EDIT, n_images * edits)
    logit_real = rng.normal(-1.0, 1.0, n_images)
    y = np.r_[np.zeros(n_images, int), np.ones(n_images * edits, int)]
    s = 1 / (1 + np.exp(-np.r_[logit_real, logit_fake]))
    image = np.r_[np.arange(n_images), np.repeat(np.arange(n_images), edits)]
    return y, s, image


def test_cluster_bootstrap_covers_where_the_row_bootstrap_does_not():
    """200 simulated datasets with strong within-image correlation: the 95% cluster-bootstrap interval of
    fake recall covers the true value in >= 90% of them; the old row bootstrap covers far less."""
    rng = np.random.default_rng(12)
    covered = {"cluster": 0, "row": 0}
    for i in range(200):
        y, s, image = _dataset(rng)
        tp = int(((s > 0.5) & (y == 1)).sum())
        fp = int(((s > 0.5) & (y == 0)).sum())
        counts = {"tp": tp, "fp": fp, "fn": int(y.sum()) - tp, "tn": int((y == 0).sum()) - fp}
        lo, hi = confusion_intervals(counts, 200, seed=i)["fake_recall"]
        covered["row"] += lo <= TRUE_RECALL <= hi
        boot, _ = cluster_bootstrap(y, s, make_clusters(y, image), {"default": 0.5}, n_boot=200, seed=i)
        lo, hi = boot["default"]["fake_recall"]
        covered["cluster"] += lo <= TRUE_RECALL <= hi
    coverage = {k: v / 200 for k, v in covered.items()}
    print(f"coverage of the 95% fake-recall interval over 200 datasets: {coverage}")
    assert coverage["cluster"] >= 0.90
    assert coverage["row"] < 0.75


def test_weighted_threshold_is_threshold_at_fpr_of_the_resampled_reals():
    rng = np.random.default_rng(0)
    scores = np.round(rng.random(40), 2)  # ties included
    for trial in range(20):
        weights = rng.integers(0, 4, scores.size).astype(float)
        order = np.argsort(-scores, kind="stable")
        t, above = _weighted_threshold(weights[order][None, :], scores[order], 0.1)
        expanded = np.repeat(scores, weights.astype(int))
        assert t[0] == threshold_at_fpr(np.zeros(expanded.size), expanded, 0.1), trial
        assert above[0] == (expanded > t[0]).sum()


def test_calibrated_threshold_is_rechosen_inside_each_resample():
    """Re-chosen in every resample, the threshold holds FPR <= target in each (real recall >= 0.95), while
    the same threshold held fixed lets resampled reals cross it; its own uncertainty widens fake recall."""
    rng = np.random.default_rng(3)
    y, s, image = _dataset(rng, n_images=200, edits=5)
    t = threshold_at_fpr(y, s, 0.05)
    boot, rank = cluster_bootstrap(y, s, make_clusters(y, image), {"calibrated": t}, target_fpr=0.05, n_boot=300,
                                   seed=1)
    fixed, _ = cluster_bootstrap(y, s, make_clusters(y, image), {"fixed": t}, n_boot=300, seed=1)
    lo, hi = boot["calibrated"]["real_recall"]
    assert lo >= 0.95 - 1e-12 and hi < 1.0  # FPR <= target in every resample
    assert fixed["fixed"]["real_recall"][0] < 0.94
    lo, hi = boot["calibrated"]["fake_recall"]
    assert hi - lo > 0.05
    assert rank["roc_auc"][0] < rank["roc_auc"][1]


def test_wilson_group_intervals_never_collapse():
    lo, hi = recall_intervals(np.array([0, 10, 5, 0]), np.array([10, 10, 10, 0]))
    # statsmodels' Wilson interval for 0/10 and 10/10: [0, 0.2775] and [0.7225, 1]
    assert lo[0] == pytest.approx(0.0, abs=1e-12) and hi[0] == pytest.approx(0.27753, abs=1e-4)
    assert lo[1] == pytest.approx(0.72247, abs=1e-4) and hi[1] == pytest.approx(1.0)
    assert lo[2] < 0.5 < hi[2] and np.isnan(lo[3]) and np.isnan(hi[3])
    k = np.arange(51)
    lo, hi = recall_intervals(k, np.full(51, 50))
    assert (lo <= k / 50).all() and (hi >= k / 50).all()  # contains the estimate (plots draw lo..hi bars)


def test_small_groups_shown_but_not_ranked_and_the_report_says_how():
    rng = np.random.default_rng(5)
    y, s, image = _dataset(rng, n_images=30, edits=4)
    fakes = int(y.sum())
    orig = np.array([None] * 30 + ["cat"] * (fakes - 3) + ["dog"] * 3, dtype=object)
    pert = np.array([None] * 30 + ["tiger"] * (fakes - 3) + ["bus"] * 3, dtype=object)
    r = evaluate_detector(y, s, {"original_label": orig, "perturbed_label": pert}, n_boot=50, clusters=image,
                          min_group_count=20)
    pairs = r.pairs["default"]
    assert list(pairs["pair"]) == ["cat -> tiger", "dog -> bus"] and list(pairs["rank"]) == [1, 0]
    assert r.settings["interval_method"] == "cluster_bootstrap"
    assert "cluster-bootstrap resamples of the 30 source images" in r.settings["intervals"]
    assert html.escape(r.settings["intervals"]) in render_html(r)
    assert "row-bootstrap" in evaluate_detector(y, s, n_boot=20).settings["intervals"]
