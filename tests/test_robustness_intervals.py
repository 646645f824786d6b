"""Intervals of the robustness, controls and per-bin tables (issue 14): known answers, pairing, scipy, Wilson."""

import json
import math

import numpy as np
import polars as pl
import pytest
from scipy.stats import bootstrap

from semitruths_dagster.evaluation.decision import decision_metrics
from semitruths_dagster.evaluation.resampled import resampled_intervals, summarize, weighted_metrics
from semitruths_dagster.evaluation.robustness import (
    by_bin_table,
    controls_table,
    evaluate_robustness,
    robustness_table,
    table_html,
    table_markdown,
)

Z = 1.959963984540054  # the standard normal's 97.5% quantile


def _images(k: int, seed: int = 0, noise: float = 0.0) -> pl.DataFrame:
    """k source images, each with one real and one edit, under clean and jpeg_q75 (clean + noise)."""
    rng = np.random.default_rng(seed)
    label = np.tile([0, 1], k)
    clean = 1 / (1 + np.exp(-(rng.normal(0, 1, 2 * k) + 1.5 * label - 0.7)))
    jpeg = np.clip(clean + rng.normal(0, noise, 2 * k), 0, 1) if noise else clean
    ids = np.repeat([f"img{i}" for i in range(k)], 2)
    return pl.DataFrame({
        "dataset": "d", "image_id": np.r_[ids, ids], "label": np.r_[label, label].astype(np.int8),
        "score": np.r_[clean, jpeg], "condition": ["clean"] * (2 * k) + ["jpeg_q75"] * (2 * k),
        "control": pl.Series([None] * (4 * k), dtype=pl.Utf8)})


def test_unit_weights_give_the_point_estimates_ties_included():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 400)
    s = np.round(1 / (1 + np.exp(-(rng.normal(0, 1, 400) + y))), 2)  # rounded: many ties across classes
    got = weighted_metrics(summarize(y, s, np.arange(400), 400, {"default": 0.5, "calibrated": 0.7}), np.ones((1, 400)))
    expected = decision_metrics(y, s, 0.5, 0.7)
    for name in ("roc_auc", "average_precision", "tpr_at_1fpr", "tpr_at_5fpr", "eer", "ece", "brier", "nll",
                 "balanced_accuracy_default", "balanced_accuracy_calibrated", "fake_recall_calibrated",
                 "real_fpr_calibrated"):
        assert got[name][0] == pytest.approx(expected[name], abs=1e-12), name


def test_identical_condition_drop_collapses_to_zero_and_a_perfect_detector_to_one():
    frame = _images(40)
    table = robustness_table(frame, 0.5, 0.05, n_boot=300, seed=1)
    lo, hi = table["roc_auc_ci"][1]
    assert hi - lo > 0.05  # each condition's own interval is wide ...
    for k in ("roc_auc", "tpr_at_5fpr", "balanced_accuracy_calibrated", "fake_recall_calibrated"):
        assert table[f"{k}_drop_ci"][1] == (0.0, 0.0)  # ... their paired difference is exactly zero
    perfect = frame.with_columns(score=pl.col("label").cast(pl.Float64))
    table = robustness_table(perfect, 0.5, 0.05, n_boot=100)
    assert table["roc_auc_ci"][0] == (1.0, 1.0) and table["eer_ci"][0] == (0.0, 0.0)


def test_pairing_over_images_narrows_the_drop_interval():
    frame = _images(60, noise=0.02)
    paired = robustness_table(frame, 0.5, 0.05, n_boot=400)
    unpaired = robustness_table(frame.drop("image_id"), 0.5, 0.05, n_boot=400)  # rows resampled alone
    width = {name: t["roc_auc_drop_ci"][1][1] - t["roc_auc_drop_ci"][1][0] for name, t in
             (("paired", paired), ("unpaired", unpaired))}
    assert paired["roc_auc_drop_ci"][1][0] <= paired["roc_auc_drop"][1] <= paired["roc_auc_drop_ci"][1][1]
    assert width["paired"] < width["unpaired"] / 3


def test_paired_drop_matches_scipy_bootstrap_over_images():
    # Every image has a real and an edit: one stratum, so the cluster bootstrap is scipy's, over images.
    k, frame = 80, _images(80, seed=5, noise=0.15)
    y = frame["label"].to_numpy()[: 2 * k].reshape(k, 2).astype(float)
    clean, jpeg = (frame["score"].to_numpy()[i * 2 * k:(i + 1) * 2 * k].reshape(k, 2) for i in (0, 1))

    def brier_drop(idx, axis=-1):
        idx = idx.astype(int)
        return (((clean - y) ** 2).sum(1)[idx].sum(axis) - ((jpeg - y) ** 2).sum(1)[idx].sum(axis)) / (2 * k)

    reference = bootstrap((np.arange(k),), brier_drop, vectorized=True, n_resamples=4000, method="percentile",
                          random_state=0).confidence_interval
    masks = {c: (frame["condition"] == c).to_numpy() for c in ("clean", "jpeg_q75")}
    _, diffs = resampled_intervals(y.ravel().tolist() * 2, frame["score"].to_numpy(), frame["image_id"].to_list(),
                                   masks, {"default": 0.5}, differences=[("drop", "clean", "jpeg_q75")],
                                   n_boot=4000, seed=0)
    lo, hi = diffs["drop"]["brier"]
    width = reference.high - reference.low
    assert lo == pytest.approx(reference.low, abs=0.1 * width) and hi == pytest.approx(reference.high, abs=0.1 * width)


def _controls_frame() -> pl.DataFrame:
    """20 reals (threshold: the 2nd highest real, 0.45), 10 edits (9 flagged), 10 pasted-back (8 flagged)."""
    reals = np.linspace(0.0, 0.5, 20).round(3)
    edits = np.r_[np.full(9, 0.9), 0.1]
    pasted = np.r_[np.full(8, 0.8), 0.1, 0.2]
    rows = [{"image_id": f"r{i}", "label": 0, "score": s, "control": None} for i, s in enumerate(reals)]
    rows += [{"image_id": f"r{i}", "label": 1, "score": s, "control": None} for i, s in enumerate(edits)]
    rows += [{"image_id": f"r{i}", "label": 1, "score": s, "control": "pasted_back"} for i, s in enumerate(pasted)]
    return pl.DataFrame(rows, schema={"image_id": pl.Utf8, "label": pl.Int8, "score": pl.Float64,
                                      "control": pl.Utf8})


def test_controls_shares_have_hand_computed_wilson_intervals_and_a_paired_difference():
    table = controls_table(_controls_frame(), 0.05, n_boot=500, seed=0)
    row = table["rows"].index("pasted_back")
    assert table["flagged_fake"][row] == pytest.approx(0.8)
    n, p = 10, 0.8  # Wilson score interval by hand
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    assert table["flagged_fake_ci"][row] == pytest.approx((centre - half, centre + half))
    assert table["compared_with"][row] == "edits" and table["difference"][row] == pytest.approx(0.8 - 0.9)
    lo, hi = table["difference_ci"][row]
    assert -1 <= lo <= -0.1 <= hi <= 0.3
    assert math.isnan(table["difference"][table["rows"].index("edits")])


def test_bins_tables_and_report_show_the_intervals(tmp_path):
    frame = _images(30)
    attributes = frame.filter(pl.col("condition") == "clean").with_columns(
        area_ratio_bin=pl.when(pl.col("label") == 1).then(
            pl.when(pl.col("score") > 0.6).then(pl.lit("large")).otherwise(pl.lit("small"))))
    bins = by_bin_table(attributes, 0.5, 0.6, n_boot=200)
    assert bins["bin"] == ["small", "large"]  # natural level order
    large, small = 1, 0
    hits = int((attributes.filter(pl.col("area_ratio_bin") == "large")["score"] > 0.6).sum())
    assert bins["fake_recall_calibrated"][large] == 1.0 and bins["fake_recall_calibrated_ci"][large][1] == 1.0
    assert bins["fake_recall_calibrated_ci"][large][0] == pytest.approx(hits / (hits + Z**2))  # Wilson at p = 1
    assert bins["roc_auc_ci"][small][0] <= bins["roc_auc"][small] <= bins["roc_auc_ci"][small][1]
    table = robustness_table(frame, 0.5, 0.05, n_boot=100)
    page, markdown = table_html(table), table_markdown(table, ("condition", "roc_auc"))
    lo, hi = table["roc_auc_ci"][0]
    assert f"{table['roc_auc'][0]:.3f} [{lo:.3f}, {hi:.3f}]" in page and f"[{lo:.3f}, {hi:.3f}]" in markdown
    assert "roc_auc_ci" not in page  # beside the value, not a column of its own
    summary = evaluate_robustness(frame, attributes, 0.5, 0.05, 50, 0, tmp_path, random_weights=False)
    assert "cluster-bootstrap resamples" in summary["html"] and summary["robustness"]["roc_auc_drop_ci"][0] == (0, 0)
    stored = json.loads((tmp_path / "robustness.json").read_text())
    assert stored["robustness"]["roc_auc_ci"][0] == list(lo_hi := summary["robustness"]["roc_auc_ci"][0])
    assert lo_hi[0] < lo_hi[1] and "difference_ci" in stored["controls"] and "roc_auc_ci" in stored["by_bin"]


def test_resampled_response_curves_with_unit_weights_are_the_curves():
    from semitruths_dagster.evaluation.response import _curves, _kernel, _ranks, _resampled_curves

    rng = np.random.default_rng(4)
    x, fake, real = rng.uniform(0, 0.3, 80), rng.uniform(0, 1, 80).round(2), rng.uniform(0, 1, 30).round(2)
    grid = np.quantile(x, np.linspace(0.02, 0.98, 25))
    hit = (fake > 0.6).astype(float)
    expected = _curves(x, hit, fake, real, grid, x, 0.1)
    got = _resampled_curves(_kernel(_ranks(x, x), _ranks(grid, x), 0.1), hit, fake, real, np.ones((2, 80)),
                            np.ones((2, 30)))
    for e, g in zip(expected, got, strict=True):
        assert np.allclose(g, e[None, :], atol=1e-12)
