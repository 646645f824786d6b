"""Evaluation figures equal scikit-learn's; calibrated thresholds hold the FPR; breakdowns count right."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from semitruths_dagster.evaluation import (
    EvaluationResult,
    ap_from_counts,
    auc_from_counts,
    binned_counts,
    confusion_intervals,
    encode,
    evaluate_detector,
    fpr_at,
    ranked_counts,
    recall_intervals,
    threshold_at_fpr,
)


def _synthetic(n: int = 3000, seed: int = 0, decimals: int = 2):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    scores = np.clip(rng.normal(0.35 + 0.3 * y, 0.2), 0, 1).round(decimals)  # rounding makes ties
    attrs = {
        "dataset": rng.choice(["ADE20K", "CelebAHQ", "SUN_RGBD"], n),
        "mse_bin": np.where(y == 1, rng.choice(["small", "medium", "large"], n), None),
        "original_label": np.where(y == 1, rng.choice(["cat", "dog", "car"], n), None),
        "perturbed_label": np.where(y == 1, rng.choice(["tree", "bus"], n), None),
    }
    return y, scores, attrs


@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.71])
def test_threshold_metrics_equal_sklearn(threshold):
    y, s, attrs = _synthetic()
    r = evaluate_detector(y, s, attrs, threshold=threshold, n_boot=50)
    m, pred = r.metrics["default"], (s > threshold).astype(int)
    p, rec, f1, support = skm.precision_recall_fscore_support(y, pred, labels=[0, 1], zero_division=0)
    for i, cls in enumerate(("real", "fake")):
        assert m[f"{cls}_precision"] == pytest.approx(p[i])
        assert m[f"{cls}_recall"] == pytest.approx(rec[i])
        assert m[f"{cls}_f1"] == pytest.approx(f1[i])
    assert (m["n_real"], m["n_fake"]) == (support[0], support[1])
    assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
    assert m["balanced_accuracy"] == pytest.approx(skm.balanced_accuracy_score(y, pred))
    assert m["macro_f1"] == pytest.approx(skm.f1_score(y, pred, average="macro"))
    assert r.ranking["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s))
    assert r.ranking["average_precision"] == pytest.approx(skm.average_precision_score(y, s))


def test_known_answers():
    y = np.array([0, 0, 0, 1, 1, 1])
    s = np.array([0.1, 0.2, 0.6, 0.4, 0.8, 0.9])
    r = evaluate_detector(y, s, n_boot=10)
    m = r.metrics["default"]
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 1, 1, 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert r.ranking["roc_auc"] == pytest.approx(8 / 9)
    perfect = evaluate_detector(y, y * 0.9 + 0.05, n_boot=10)
    assert perfect.ranking["roc_auc"] == 1.0 and perfect.metrics["default"]["balanced_accuracy"] == 1.0


def test_ranking_from_counts_all_ties_and_one_class():
    y = np.array([0, 1, 0, 1])
    s = np.full(4, 0.5)
    c = ranked_counts(y.astype(bool), s)
    assert auc_from_counts(c.pos, c.neg) == pytest.approx(0.5) == skm.roc_auc_score(y, s)
    assert ap_from_counts(c.pos, c.neg) == pytest.approx(skm.average_precision_score(y, s))
    ones = ranked_counts(np.ones(3, bool), np.array([0.1, 0.2, 0.3]))
    assert np.isnan(auc_from_counts(ones.pos, ones.neg))


def test_binned_auc_close_and_exact_when_few_scores():
    y, s, _ = _synthetic(20000, seed=3, decimals=6)
    c = ranked_counts(y.astype(bool), s)
    b = binned_counts(c, 1000)
    assert b.pos.size <= 1000 and b.n_pos == c.n_pos
    assert auc_from_counts(b.pos, b.neg) == pytest.approx(skm.roc_auc_score(y, s), abs=2e-3)
    few = ranked_counts(y.astype(bool), s.round(2))
    assert binned_counts(few, 1000) is few


@pytest.mark.parametrize("seed", range(8))
def test_calibrated_threshold_holds_fpr(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 3000))
    y = rng.integers(0, 2, n)
    s = rng.random(n).round(int(rng.integers(1, 4)))  # heavy ties at 1 decimal
    for target in (0.0, 0.01, 0.05, 0.2):
        t = threshold_at_fpr(y, s, target)
        assert fpr_at(y, s, t) <= target + 1e-12
        real = s[y == 0]
        lower = real[real < t]
        if lower.size:  # the next lower candidate would break the target: t is the smallest that holds
            assert fpr_at(y, s, lower.max()) > target
    r = evaluate_detector(y, s, n_boot=10, target_fpr=0.05)
    assert r.metrics["calibrated"]["fpr"] <= 0.05
    assert 1.0 - r.metrics["calibrated"]["real_recall"] == pytest.approx(r.metrics["calibrated"]["fpr"])


def test_breakdowns_count_like_groupby():
    y, s, attrs = _synthetic()
    r = evaluate_detector(y, s, attrs, n_boot=20)
    pred = s > 0.5
    table = r.breakdowns["default"]["dataset"]
    for i, value in enumerate(table["value"]):
        rows = attrs["dataset"] == value
        assert table["n_fake"][i] == int((rows & (y == 1)).sum())
        assert table["detected"][i] == int((rows & (y == 1) & pred).sum())
        assert table["recall"][i] == pytest.approx(skm.recall_score(y[rows], pred[rows]))
        assert table["fpr"][i] == pytest.approx(pred[rows & (y == 0)].mean())
        assert table["recall_lo"][i] <= table["recall"][i] <= table["recall_hi"][i]
    mse = r.breakdowns["default"]["mse_bin"]
    assert sum(mse["n_fake"]) == int((y == 1).sum()) and sum(mse["n_real"]) == 0  # missing for reals
    assert "original_label" not in r.breakdowns["default"]


def test_directional_pairs_ranked_by_recall():
    y, s, attrs = _synthetic()
    r = evaluate_detector(y, s, attrs, n_boot=20)
    pairs = r.pairs["default"]
    assert len(pairs["pair"]) == 6 and "cat -> tree" in pairs["pair"]
    assert list(pairs["recall"]) == sorted(pairs["recall"])
    assert sum(pairs["n_fake"]) == int((y == 1).sum())
    i = list(pairs["pair"]).index("dog -> bus")
    rows = (attrs["original_label"] == "dog") & (attrs["perturbed_label"] == "bus")
    assert pairs["n_fake"][i] == int(rows.sum()) and pairs["recall"][i] == pytest.approx(
        (s[rows] > 0.5).mean()
    )


def test_bootstrap_seeded_and_sensible():
    counts = {"tp": 400, "fp": 100, "fn": 100, "tn": 400}
    a, b = confusion_intervals(counts, 500, seed=1), confusion_intervals(counts, 500, seed=1)
    assert a == b and a != confusion_intervals(counts, 500, seed=2)
    lo, hi = a["accuracy"]
    assert lo < 0.8 < hi and hi - lo < 0.06  # ~ +-1.96 * sqrt(.8 * .2 / 1000)
    lo, hi = recall_intervals(np.array([80, 0]), np.array([100, 0]))
    assert lo[0] < 0.8 < hi[0] and np.isnan(lo[1])
    y, s, attrs = _synthetic()
    r1, r2 = (
        evaluate_detector(y, s, attrs, n_boot=200, seed=5),
        evaluate_detector(y, s, attrs, n_boot=200, seed=5),
    )
    assert r1.to_dict() == r2.to_dict()
    lo, hi = r1.ranking_intervals["roc_auc"]
    assert lo < r1.ranking["roc_auc"] < hi


def test_result_round_trips_as_json():
    y, s, attrs = _synthetic(500)
    r = evaluate_detector(y, s, attrs, n_boot=20, detector="x", random_weights=True)
    back = EvaluationResult.from_dict(json.loads(r.to_json()))
    assert back.detector == "x" and back.random_weights is True
    assert back.metrics["default"]["accuracy"] == pytest.approx(r.metrics["default"]["accuracy"])


def test_encode_handles_missing_and_checks_lengths():
    cat = encode(["a", None, "b", float("nan"), "", "a"])
    assert cat.codes.tolist() == [0, -1, 1, -1, -1, 0] and cat.categories.tolist() == ["a", "b"]
    assert all(type(c) is str for c in cat.categories)
    with pytest.raises(ValueError, match="attribute 'd' has 2 rows"):
        evaluate_detector([0, 1, 1], [0.1, 0.2, 0.3], {"d": ["a", "b"]})
    with pytest.raises(ValueError, match="NaN"):
        evaluate_detector([0, 1], [0.1, float("nan")])


@pytest.mark.parametrize("n_scores", [0, 1, 7, 1999, 2000, 2001, 12345])
def test_thinned_curves_equal_thinning_the_full_curves(n_scores):
    from semitruths_dagster.evaluation.ranking import (
        RankedCounts,
        pr_curve_points,
        roc_curve_points,
        thin_curve,
        thinned_curves,
    )

    rng = np.random.default_rng(n_scores)
    counts = RankedCounts(np.arange(n_scores, 0, -1.0), rng.integers(0, 3, n_scores), rng.integers(0, 3, n_scores))
    fpr, tpr, _ = roc_curve_points(counts)
    precision, recall = pr_curve_points(counts)
    expected = (*thin_curve(fpr, tpr), *thin_curve(recall, precision))
    for got, want in zip(thinned_curves(counts), expected, strict=True):
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_descending_order_groups_ties_and_signs():
    from semitruths_dagster.evaluation.ranking import _descending_order

    rng = np.random.default_rng(3)
    s = rng.normal(0, 1, 5000).astype(np.float32).astype(np.float64)
    s[::7], s[::11], s[::13], s[5] = 0.5, -0.0, 0.0, -3.25  # ties, both zeros, a negative
    # Highest first; ties (-0.0 == 0.0 included) by row index, reversed.
    want = np.lexsort((np.arange(s.size), s + 0.0))[::-1]
    assert np.array_equal(_descending_order(s), want)
    t = s + 1e-9  # not float32 values: the generic argsort, still grouped by score, highest first
    assert np.all(np.diff(t[_descending_order(t)]) <= 0)
