"""Decision-rule metrics against scikit-learn and hand-computed answers."""

import math

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, roc_auc_score, roc_curve

from semitruths_dagster.evaluation.decision import (
    decision_metrics,
    equal_error_rate,
    expected_calibration_error,
    reliability,
    tpr_at_fpr,
)


def test_ece_brier_nll_hand_computed():
    y, p = np.array([0, 1, 1, 1]), np.array([0.1, 0.1, 0.9, 0.9])
    # bins of width 1/15: 0.1 -> bin 1 (mean 0.1, fakes 1/2), 0.9 -> bin 13 (mean 0.9, fakes 1)
    assert expected_calibration_error(y, p) == pytest.approx(0.5 * 0.4 + 0.5 * 0.1)
    table = reliability(y, p)
    assert table["count"][1] == 2 and table["count"][13] == 2 and table["count"].sum() == 4
    m = decision_metrics(y, p, default_threshold=0.5)
    assert m["brier"] == pytest.approx((0.01 + 0.81 + 0.01 + 0.01) / 4)
    assert m["nll"] == pytest.approx(-(math.log(0.9) + math.log(0.1) + 2 * math.log(0.9)) / 4)
    assert expected_calibration_error(np.array([0, 1]), np.array([0.0, 1.0])) == 0.0


def test_eer_hand_computed_and_bounded_by_brute_force():
    # threshold between 0.35 and 0.4: one real of two above (FPR 1/2), one fake of two below (FNR 1/2)
    assert equal_error_rate(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.5)
    assert equal_error_rate(np.array([0, 0, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4])) == 0.0
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    s = rng.normal(y * 1.0, 1.0)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=False)
    minmax = np.min(np.maximum(fpr, 1 - tpr))
    eer = equal_error_rate(y, s)
    assert minmax - 1 / min((y == 0).sum(), y.sum()) <= eer <= minmax + 1e-12


def test_tpr_at_fpr_hand_computed():
    real = np.arange(100) / 100
    fake = np.array([1.5] * 30 + [0.985] * 30 + [0.5] * 40)
    y, s = np.r_[np.zeros(100), np.ones(100)].astype(int), np.r_[real, fake]
    assert tpr_at_fpr(y, s, 0.0) == pytest.approx(0.3)
    assert tpr_at_fpr(y, s, 0.01) == pytest.approx(0.6)
    assert tpr_at_fpr(y, s, 0.05) == pytest.approx(0.6)
    assert math.isnan(tpr_at_fpr(np.ones(3, int), np.ones(3), 0.05))


def test_overall_metrics_match_scikit_learn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = np.clip(rng.normal(0.4 + 0.2 * y, 0.2), 0, 1)
    m = decision_metrics(y, s, default_threshold=0.5, target_fpr=0.05)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert m["balanced_accuracy_default"] == pytest.approx(balanced_accuracy_score(y, s > 0.5))
    t = m["calibrated_threshold"]
    assert m["balanced_accuracy_calibrated"] == pytest.approx(balanced_accuracy_score(y, s > t))
    assert m["real_fpr_calibrated"] <= 0.05
    only_real = decision_metrics(np.zeros(5, int), np.full(5, 0.2), 0.5, calibrated_threshold=0.3)
    assert math.isnan(only_real["roc_auc"]) and only_real["real_fpr_calibrated"] == 0.0
