"""The fast evaluation paths (issue 22, item 7) against straightforward references: a table prepared once
for many detectors, packed group counts, one unstable sort, the cluster bootstrap as matrix products with
a banded calibrated threshold. Same numbers as scikit-learn per group and as resampling row by row."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn import metrics as skm

from semitruths_dagster.evaluation import (
    Categorical,
    breakdown,
    counting,
    evaluate_detector,
    prepare_table,
    ranked_counts,
    sort_scores,
)
from semitruths_dagster.evaluation.bootstrap import (
    _banded_threshold,
    _weighted_threshold,
    cluster_bootstrap,
    cluster_weights,
    make_clusters,
)
from semitruths_dagster.evaluation.thresholds import threshold_at_fpr


def _table(n: int = 600, seed: int = 0):
    """Ties (scores on a 0.05 grid), missing values, a group of reals only, a category with no rows."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.7).astype(int)
    s = np.round(np.clip(0.5 + 0.25 * (2 * y - 1) + rng.normal(0, 0.25, n), 0, 1) / 0.05) * 0.05
    dataset = np.array(["ade", "celeb", "city", "sun"])[rng.integers(0, 4, n)]
    dataset[(y == 0) & (rng.random(n) < 0.2)] = "reals_only"
    method = np.where(y == 1, np.array(["inpainting", "p2p"])[rng.integers(0, 2, n)], "")
    empty = Categorical(np.where(y == 1, rng.integers(0, 2, n), -1).astype(np.int32),
                        np.array(["big", "small", "never_used"], dtype=object))
    orig = np.where(y == 1, np.array(["cat", "dog", "car"])[rng.integers(0, 3, n)], "")
    pert = np.where(y == 1, np.array(["cow", "bus", "man", "sky"])[rng.integers(0, 4, n)], "")
    image = rng.integers(0, n // 8, n)
    attrs = {"dataset": dataset, "method": method, "size_bin": empty, "original_label": orig,
             "perturbed_label": pert}
    return y, s, attrs, image


def _reference_group(y, pred, values, value):
    rows = values == value
    fake, real = rows & (y == 1), rows & (y == 0)
    recall = skm.recall_score(y[fake], pred[fake], zero_division=0) if fake.any() else np.nan
    fpr = pred[real].mean() if real.any() else np.nan
    return int(fake.sum()), int((pred & fake).sum()), recall, int(real.sum()), fpr


@pytest.mark.parametrize("clustered", [False, True])
def test_prepared_evaluation_equals_sklearn_per_group(clustered):
    y, s, attrs, image = _table()
    table = prepare_table(y, attrs, clusters=image.tolist() if clustered else None)
    r = evaluate_detector(y, s, table, n_boot=30, min_group_count=20)
    assert r.ranking["roc_auc"] == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert r.ranking["average_precision"] == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    assert r.thresholds["calibrated"] == threshold_at_fpr(y, s, 0.05)
    for which, t in r.thresholds.items():
        pred = s > t
        m = r.metrics[which]
        assert m["accuracy"] == pytest.approx(skm.accuracy_score(y, pred))
        assert m["fake_f1"] == pytest.approx(skm.f1_score(y, pred, zero_division=0))
        assert m["fake_precision"] == pytest.approx(skm.precision_score(y, pred, zero_division=0))
        size_values = np.where(attrs["size_bin"].codes >= 0,
                               attrs["size_bin"].categories[np.maximum(attrs["size_bin"].codes, 0)], "")
        for name, values in (("dataset", attrs["dataset"]), ("method", attrs["method"]), ("size_bin", size_values)):
            tab = r.breakdowns[which][name]
            expected = sorted(v for v in set(values.tolist()) if v != "")
            assert list(tab["value"]) == expected  # the category with no rows is left out
            for i, v in enumerate(expected):
                n_fake, hit, recall, n_real, fpr = _reference_group(y, pred, values, v)
                assert (tab["n_fake"][i], tab["detected"][i], tab["n_real"][i]) == (n_fake, hit, n_real)
                np.testing.assert_equal([tab["recall"][i], tab["fpr"][i]], [recall, fpr])
        # Edit pairs: fakes only, lowest recall first, more rows first on ties, small pairs last.
        pairs = r.pairs[which]
        key = np.char.add(np.char.add(attrs["original_label"], " -> "), attrs["perturbed_label"])
        ref = []
        for p in sorted(set(key[y == 1].tolist())):
            rows = (key == p) & (y == 1)
            ref.append((rows.sum() < 20, pred[rows].mean(), -int(rows.sum()), p))
        assert list(pairs["pair"]) == [p for *_, p in sorted(ref)]
        assert list(pairs["recall"]) == pytest.approx([rec for _, rec, _, _ in sorted(ref)])


def test_prepared_table_gives_the_same_result_as_raw_attributes():
    y, s, attrs, image = _table(seed=3)
    raw = evaluate_detector(y, s, attrs, n_boot=50, clusters=image.tolist(), seed=4).to_dict()
    prepared = evaluate_detector(y, s, prepare_table(y, attrs, clusters=image.tolist()), n_boot=50, seed=4)
    assert prepared.to_dict() == raw
    with pytest.raises(ValueError, match="differs from the prepared table"):
        evaluate_detector(1 - y, s, prepare_table(y, attrs), n_boot=5)


def test_cluster_bootstrap_equals_resampling_rows_one_by_one():
    """Each resample's weights expand into real rows (a cluster drawn twice appears twice); scikit-learn
    and `threshold_at_fpr` on them give the metrics whose percentiles the fast path must reproduce."""
    y, s, _, image = _table(n=300, seed=5)
    clusters = make_clusters(y, image.tolist())
    n_boot, level = 40, 0.9
    boot, rank = cluster_bootstrap(y, s, clusters, {"default": 0.5, "calibrated": 0.6}, target_fpr=0.1,
                                   n_boot=n_boot, seed=2, level=level)
    draws = {"default": [], "calibrated": [], "roc_auc": [], "average_precision": []}
    for w in np.concatenate(list(cluster_weights(clusters, n_boot, 2))):
        rows = np.repeat(np.arange(y.size), w[clusters.codes].astype(int))
        yy, ss = y[rows], s[rows]
        draws["default"].append(skm.recall_score(yy, ss > 0.5))
        draws["calibrated"].append(skm.recall_score(yy, ss > threshold_at_fpr(yy, ss, 0.1)))
        draws["roc_auc"].append(skm.roc_auc_score(yy, ss))
        draws["average_precision"].append(skm.average_precision_score(yy, ss))
    tail = (1 - level) / 2
    for name in ("default", "calibrated"):
        assert boot[name]["fake_recall"] == pytest.approx(tuple(np.quantile(draws[name], [tail, 1 - tail])))
    for name in ("roc_auc", "average_precision"):
        assert rank[name] == pytest.approx(tuple(np.quantile(draws[name], [tail, 1 - tail])))


@pytest.mark.parametrize("target", [0.0, 0.05, 0.3, 1.0])
def test_banded_threshold_equals_the_full_cumulative_sum(target):
    """12 clusters of ~400 reals, each a block of neighbouring scores: the resamples' thresholds lie
    hundreds of positions apart (farther than the first band), so the band must widen to stay exact."""
    rng = np.random.default_rng(1)
    r = 5000
    s_real = np.sort(np.round(rng.random(r), 3))[::-1]  # ties included
    c_real = np.arange(r) * 12 // r
    clusters = make_clusters(np.zeros(r, bool), c_real)
    wt = clusters.weights(64, 0)
    t, above = _banded_threshold(wt, c_real, s_real, target, wt.sums(np.bincount(c_real, minlength=12)))
    w = np.concatenate(list(cluster_weights(clusters, 64, 0)))
    t_ref, above_ref = _weighted_threshold(w[:, c_real], s_real, target)
    if 0 < target < 1:
        positions = np.searchsorted(-s_real, -t)
        assert positions.max() - positions.min() > 2 * max(128, int(6 * np.sqrt(r * target * (1 - target))))
    np.testing.assert_array_equal(t, t_ref)
    np.testing.assert_array_equal(above, above_ref)


def test_packed_group_counts_equal_one_breakdown_per_attribute(monkeypatch):
    y, s, attrs, _ = _table(seed=7)
    table = prepare_table(y, attrs)
    pred = s > 0.5
    for cells in (8, 1 << 18):  # one attribute per pack, and all small attributes in one pack
        monkeypatch.setattr(counting, "PACK_CELLS", cells)
        counts = counting.GroupCounter(table.y, table.attributes).counts(pred)
        for name, cat in table.attributes.items():
            ref = breakdown(table.y, pred, cat, min_count=0)
            got = counts[name]
            for column, value in (("n_fake", got.n_fake), ("detected", got.hit), ("n_real", got.n_real),
                                  ("flagged", got.flagged)):
                np.testing.assert_array_equal(value, ref[column])


def test_sort_scores_groups_ties_like_a_stable_sort():
    """float32 scores take the packed-key sort, others argsort; both equal the stable-sort grouping, with
    negative scores and -0.0 == 0.0."""
    rng = np.random.default_rng(0)
    y = rng.random(2000) < 0.5
    for s in (np.round(rng.normal(0, 1, 2000), 1).astype(np.float32).astype(np.float64),
              np.round(rng.normal(0, 1, 2000), 6), np.r_[np.zeros(1000), -np.zeros(1000)]):
        order = np.argsort(-s, kind="stable")
        ss, yy = s[order], y[order]
        starts = np.flatnonzero(np.r_[True, ss[1:] != ss[:-1]])
        pos = np.add.reduceat(yy.astype(int), starts)
        got = ranked_counts(y, s)
        np.testing.assert_array_equal(got.thresholds, ss[starts])
        np.testing.assert_array_equal(got.pos, pos)
        np.testing.assert_array_equal(got.neg, np.diff(np.r_[starts, s.size]) - pos)
        srt = sort_scores(y, s)
        np.testing.assert_array_equal(s[srt.order], ss)


def test_make_clusters_codes_are_the_sorted_ids():
    ids = ["b", "a", None, "c", "a", None, "b"]
    clusters = make_clusters(np.array([0, 1, 1, 0, 1, 0, 1]), ids)
    np.testing.assert_array_equal(clusters.codes, [1, 0, 3, 2, 0, 4, 1])  # missing: one cluster each, last
    np.testing.assert_array_equal(clusters.strata, [2, 3, 1, 2, 1])
