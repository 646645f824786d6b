"""Response curves: known step responses, bands that contain the curve, seeded."""

import numpy as np
import pytest

from semitruths_dagster.evaluation.response import response_curve


def test_step_response_is_found_where_it_is():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.2, 400)  # area ratio of 400 edits
    fake = np.where(x > 0.05, 0.9, 0.1)  # the detector sees edits above 5% of the image
    real = rng.uniform(0.3, 0.7, 200)
    curve = response_curve(x, fake, real, threshold=0.8, n_boot=50, seed=0)
    assert curve["recall"][0] < 0.1 and curve["recall"][-1] > 0.9
    assert curve["auroc"][0] < 0.1 and curve["auroc"][-1] > 0.9
    assert 0.04 <= curve["crossing"] <= 0.065
    assert np.all(curve["recall_low"] <= curve["recall"] + 1e-9)
    assert np.all(curve["recall"] <= curve["recall_high"] + 1e-9)
    again = response_curve(x, fake, real, threshold=0.8, n_boot=50, seed=0)
    assert np.array_equal(again["recall_low"], curve["recall_low"])


def test_constant_recall_and_too_few_edits():
    curve = response_curve(np.linspace(0, 1, 30), np.ones(30), np.zeros(10), threshold=0.5, n_boot=20)
    assert np.allclose(curve["recall"], 1.0) and np.allclose(curve["recall_low"], 1.0)
    assert np.allclose(curve["auroc"], 1.0) and curve["crossing"] == pytest.approx(curve["x"][0])
    with pytest.raises(ValueError, match="at least 3 edits"):
        response_curve(np.array([0.1, np.nan]), np.ones(2), np.zeros(2), 0.5)


def test_weighted_win_share_is_scikit_learns_weighted_auroc():
    from sklearn.metrics import roc_auc_score

    from semitruths_dagster.evaluation.response import win_share

    rng = np.random.default_rng(2)
    fake, real, w = rng.normal(1, 1, 50).round(1), rng.normal(0, 1, 40).round(1), rng.uniform(0, 1, 50)
    expected = roc_auc_score(np.r_[np.zeros(40), np.ones(50)], np.r_[real, fake],
                             sample_weight=np.r_[np.full(40, w.sum() / 40), w])
    assert (w @ win_share(fake, real)) / w.sum() == pytest.approx(expected)
