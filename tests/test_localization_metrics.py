"""Localization metrics against scikit-learn and hand-computed cases; the cluster-bootstrap intervals."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import f1_score, jaccard_score, matthews_corrcoef, roc_auc_score

from semitruths_dagster.evaluation.bootstrap import cluster_weights, make_clusters
from semitruths_dagster.localization.evaluate import mean_intervals
from semitruths_dagster.localization.metrics import histograms, image_auroc, per_image, pooled_auroc


def _maps(seed: int = 0, n: int = 6, shape=(24, 32)):
    rng = np.random.default_rng(seed)
    truth = np.zeros((n, *shape), dtype=bool)
    for i in range(n):  # a rectangle per image, and a map that leans towards it
        y, x = rng.integers(0, shape[0] // 2), rng.integers(0, shape[1] // 2)
        truth[i, y : y + shape[0] // 3, x : x + shape[1] // 3] = True
    levels = np.clip(rng.normal(90 + 80 * truth, 50), 0, 255).astype(np.uint8)
    return levels, truth


def test_hand_computed_case():
    # 2x3 map: levels 255, 200, 100 / 0, 128, 127; truth: the top row
    levels = np.array([[[255, 200, 100], [0, 128, 127]]], dtype=np.uint8)
    truth = np.array([[[True, True, True], [False, False, False]]])
    m = per_image(histograms(levels, truth), threshold=0.5)
    # flagged at 0.5 (level/255 > 0.5 <=> level >= 128): 255, 200, 128 -> tp 2, fp 1, fn 1, tn 2
    assert m["f1"][0] == pytest.approx(2 * 2 / (2 * 2 + 1 + 1))
    assert m["iou"][0] == pytest.approx(2 / 4)
    assert m["mcc"][0] == pytest.approx((2 * 2 - 1 * 1) / np.sqrt(3 * 3 * 3 * 3))
    # best cut: levels >= 200 -> tp 2, fp 0, fn 1: F1 0.8; levels >= 100 with 128: tp 3 fp 2 -> 0.75
    assert m["f1_best"][0] == pytest.approx(0.8)
    # AUROC: pairs (pos, neg) = 9; pos 255 beats 3, 200 beats 3, 100 beats 1 (0): 7/9
    assert m["auroc"][0] == pytest.approx(7 / 9)
    assert m["flagged_share"][0] == pytest.approx(3 / 6) and m["truth_share"][0] == pytest.approx(0.5)
    assert m["map_max"][0] == pytest.approx(1.0)


def test_per_image_metrics_equal_scikit_learn():
    levels, truth = _maps(n=4, shape=(9, 12))
    hist = histograms(levels, truth)
    assert (hist == histograms(list(levels), list(truth))).all()  # stacked and one-by-one agree
    assert (hist[:, 0].sum(1) == (~truth).sum((1, 2))).all() and (hist[:, 1].sum(1) == truth.sum((1, 2))).all()
    m = per_image(hist, threshold=0.5)
    for i in range(levels.shape[0]):
        t, lv = truth[i].ravel(), levels[i].ravel()
        flagged = lv / 255 > 0.5
        assert m["f1"][i] == pytest.approx(f1_score(t, flagged))
        assert m["iou"][i] == pytest.approx(jaccard_score(t, flagged))
        assert m["mcc"][i] == pytest.approx(matthews_corrcoef(t, flagged))
        assert m["auroc"][i] == pytest.approx(roc_auc_score(t, lv))
        if i >= 2:
            continue  # the best-threshold brute force (hundreds of scikit-learn calls) on two images
        cuts = [lv >= k for k in [*np.unique(lv), 256]]  # every distinct cut (those between levels repeat)
        assert m["f1_best"][i] == pytest.approx(max(f1_score(t, c) for c in cuts))
        assert m["iou_best"][i] == pytest.approx(max(jaccard_score(t, c) for c in cuts))
        assert m["mcc_best"][i] == pytest.approx(max(matthews_corrcoef(t, c) for c in cuts))
        assert m["map_max"][i] == pytest.approx(lv.max() / 255)
    assert pooled_auroc(hist) == pytest.approx(roc_auc_score(truth.ravel(), levels.ravel()))


def test_undefined_cases_and_false_alarm_area():
    levels = np.array([[[0, 200], [10, 255]]], dtype=np.uint8)
    m = per_image(histograms(levels, np.zeros_like(levels, dtype=bool)), threshold=0.5)
    assert np.isnan(m["f1"][0]) and np.isnan(m["auroc"][0]) and np.isnan(m["f1_best"][0])
    assert m["mcc"][0] == 0.0  # scikit-learn's convention for a zero denominator
    assert m["flagged_share"][0] == pytest.approx(0.5)  # a real image: half its pixels flagged


def test_image_auroc_equals_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, 40)
    scores = np.round(rng.random(40), 1)  # ties
    assert image_auroc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert np.isnan(image_auroc(np.ones(3), np.arange(3.0)))


def test_mean_intervals_resample_source_images():
    rng = np.random.default_rng(1)
    image_ids = [f"img{i // 4}" for i in range(40)]  # 10 source images, 4 edits each
    values = rng.random(40)
    values[5] = np.nan  # left out of the mean and of every resample
    frame = pl.DataFrame({"image_id": image_ids, "f1": values})
    out = mean_intervals(frame, ["f1"], n_boot=300, seed=7)["f1"]
    assert out["n"] == 39 and out["mean"] == pytest.approx(np.nanmean(values))
    # the same draws by hand: cluster weights, weighted sums of per-image values over weighted counts
    clusters = make_clusters(np.ones(40, dtype=bool), image_ids)
    w = np.concatenate(list(cluster_weights(clusters, 300, 7)))
    finite = np.isfinite(values)
    sums = np.bincount(clusters.codes, np.where(finite, values, 0), minlength=clusters.n)
    counts = np.bincount(clusters.codes, finite.astype(float), minlength=clusters.n)
    draws = (w @ sums) / (w @ counts)
    lo, hi = np.quantile(draws, [0.025, 0.975])
    assert out["lo"] == pytest.approx(lo, rel=1e-5) and out["hi"] == pytest.approx(hi, rel=1e-5)
    assert out["lo"] < out["mean"] < out["hi"]


def test_leaderboard_columns_come_from_the_localization_result(tmp_path):
    from semitruths_dagster.evaluation.columns import provider_values

    (tmp_path / "localization").mkdir()
    stat = {"mean": 0.25, "lo": 0.125, "hi": 0.5, "n": 8}
    (tmp_path / "localization" / "result.json").write_text(json.dumps({
        "truths": {"post_edit_mask": {"metrics": {"f1": stat, "iou": stat | {"mean": 0.2}}}},
        "false_alarm": {"mean": 0.1, "lo": 0.05, "hi": 0.2}}))
    out = provider_values(tmp_path / "result.json")
    assert (out["loc_f1"], out["loc_f1_lo"], out["loc_f1_hi"]) == (0.25, 0.125, 0.5)
    assert out["loc_iou"] == 0.2 and out["loc_false_alarm"] == 0.1
    (tmp_path / "other").mkdir()
    assert provider_values(tmp_path / "other" / "result.json")["loc_f1"] is None  # a detector without maps


def test_summary_separates_truths_conditions_controls_and_reals():
    from semitruths_dagster.localization.evaluate import Measured, summarize

    # two source images; edit e1 (inpainting: both truths), its real twin, a pasted-back control of e1,
    # and e1 again under jpeg: each map 1x4 px
    rows = [("e1", "edit_mask", 1, "a", "clean", None, [255, 255, 0, 0], [1, 1, 0, 0]),
            ("e1", "post_edit_mask", 1, "a", "clean", None, [255, 255, 0, 0], [1, 0, 0, 0]),
            ("r1", "none", 0, "a", "clean", None, [128, 0, 0, 0], [0, 0, 0, 0]),
            ("e2", "post_edit_mask", 1, "b", "clean", None, [0, 0, 0, 255], [1, 0, 0, 0]),
            ("c1", "edit_mask", 1, "a", "clean", "pasted_back", [255, 0, 0, 0], [1, 1, 0, 0]),
            ("j1", "post_edit_mask", 1, "a", "jpeg_q75", None, [0, 0, 0, 0], [1, 0, 0, 0])]
    levels = np.array([r[6] for r in rows], dtype=np.uint8)[:, None, :]
    truth = np.array([r[7] for r in rows], dtype=bool)[:, None, :]
    hist = histograms(levels, truth)
    metrics = per_image(hist)
    frame = pl.DataFrame({
        "__index": range(len(rows)), "row_key": [r[0] for r in rows], "truth": [r[1] for r in rows],
        "label": [r[2] for r in rows], "image_id": [r[3] for r in rows], "condition": [r[4] for r in rows],
        "control": pl.Series([r[5] for r in rows], dtype=pl.Utf8), "score": pl.Series([None] * 6, dtype=pl.Float64),
        "method": ["inpainting", "inpainting", None, "p2p", "inpainting", "inpainting"],
        **{k: metrics[k] for k in metrics}})
    result = summarize(Measured(frame, hist), None, n_boot=0, seed=0)
    assert result["n_edits"] == 2 and result["n_reals"] == 1
    assert result["truths"]["edit_mask"]["metrics"]["f1"]["mean"] == pytest.approx(1.0)  # e1 only
    assert result["truths"]["post_edit_mask"]["metrics"]["f1"]["mean"] == pytest.approx((2 / 3 + 0) / 2)
    assert result["false_alarm"]["mean"] == pytest.approx(0.25)
    assert result["image_auroc_map_max"] == pytest.approx(1.0)  # maxima: e1 and e2 1.0 above r1's 128 / 255
    by_control = result["by_control"]
    assert by_control["control"] == ["pasted_back"] and by_control["f1"] == [pytest.approx(2 / 3)]
    assert set(result["by_condition"]["condition"]) == {"clean", "jpeg_q75"}
    assert result["breakdowns"]["post_edit_mask"]["method"]["value"] == ["inpainting", "p2p"]
