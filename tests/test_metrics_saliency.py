"""Known-answer tests for semitruths_dagster.metrics.saliency."""

import json

import numpy as np
import pytest

from semitruths_dagster.metrics import saliency as sal


def test_cosines_normalise_inside():
    a = np.array([[3.0, 4.0], [1.0, 0.0]])
    b = np.array([[6.0, 8.0], [0.0, 2.0]])
    assert np.allclose(sal.clip_image_similarity(a, b), [1.0, 0.0])
    assert np.allclose(sal.clip_image_text_similarity(a, b * 10), [1.0, 0.0])
    assert np.isnan(sal.cosine_rows(np.zeros((1, 2)), b[:1]))[0]


def test_directional_similarity_hand_computed():
    oi, ei = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 1.0, 0.0]])
    ot, et = np.array([[1.0, 0.0, 0.0]]), np.array([[0.0, 0.0, 1.0]])
    # d_img = (1,-1,0), d_txt = (1,0,-1): dot 1, norms sqrt2 * sqrt2 -> 0.5
    r = sal.directional_similarity(oi, ei, ot, et)
    assert r.values[0] == pytest.approx(0.5) and not r.degenerate[0]
    # inputs that are not unit length are normalised first: same answer
    r2 = sal.directional_similarity(oi * 5, ei * 0.1, ot * 2, et * 3)
    assert r2.values[0] == pytest.approx(0.5)


def test_directional_similarity_random_against_formula():
    rng = np.random.default_rng(0)
    oi, ei, ot, et = (rng.normal(size=(7, 16)) for _ in range(4))
    r = sal.directional_similarity(oi, ei, ot, et)

    def unit(x):
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    di, dt = unit(oi) - unit(ei), unit(ot) - unit(et)
    ref = (di * dt).sum(1) / np.linalg.norm(di, axis=1) / np.linalg.norm(dt, axis=1)
    assert np.allclose(r.values, ref)


def test_directional_similarity_degenerate_is_nan_not_crash():
    v = np.array([[1.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    w = np.array([[2.0, 4.0], [0.0, 1.0], [1.0, 0.0]])  # row 0: same direction -> zero image difference
    r = sal.directional_similarity(v, w, v[[1, 1, 1]], w[[1, 1, 1]])
    assert np.isnan(r.values[0]) and r.degenerate[0]
    assert not r.degenerate[1] and r.values[1] == pytest.approx(1.0)
    assert np.isnan(r.values[2]) and r.degenerate[2]  # zero embedding


def test_black_and_brisque():
    imgs = np.zeros((3, 8, 8, 3), np.uint8)
    imgs[1, 0, 0, 2] = 6
    imgs[2] = 3
    assert list(sal.is_black_image(imgs)) == [True, False, True]
    assert list(sal.is_black_image(imgs, threshold=0)) == [True, False, False]
    assert list(sal.is_black_image(imgs[0])) == [True]
    assert list(sal.is_black_image([imgs[0], np.full((4, 5), 200, np.uint8)])) == [True, False]
    assert list(sal.brisque_pass([10.0, 69.99, 70.0, np.nan])) == [True, True, False, False]


def test_percentile_windows_on_synthetic_data():
    clip = np.linspace(0.0, 1.0, 101)  # percentile p of this is exactly p/100
    direc = np.linspace(0.0, 1.0, 101)[::-1].copy()
    direc[0] = np.nan
    th = sal.percentile_thresholds(clip_image_sim=clip, directional_sim=direc)
    assert th.clip_image_sim.lo == pytest.approx(0.20) and th.clip_image_sim.hi == pytest.approx(0.80)
    assert th.directional_sim.lo == pytest.approx(0.23 * 0.99) and th.directional_sim.hi is None
    assert th.source == "percentile" and th.percentiles["clip_image_sim"] == [20.0, 80.0]
    r = sal.apply_saliency(th, clip_image_sim=clip, directional_sim=direc, brisque=np.zeros(101))
    clip_ok = (clip >= 0.2 - 1e-12) & (clip <= 0.8 + 1e-12)
    dir_ok = direc > th.directional_sim.lo
    assert np.array_equal(r.passed, clip_ok & dir_ok)
    assert r.first_failure[0] == "clip_image_sim"  # fails both: clip comes first in RULES
    assert r.failures[0] == ("clip_image_sim", "directional_sim")
    # configurable window, e.g. the released p20-p95
    th2 = sal.percentile_thresholds(clip_image_sim=clip, directional_sim=direc, clip_image_pct=(20, 95))
    assert th2.clip_image_sim.hi == pytest.approx(0.95)


def test_released_preset_and_first_failure():
    th = sal.PRESETS["released"]
    assert th.clip_image_sim.lo == 0.8816 and th.clip_image_sim.hi == 0.9896
    assert (th.clip_edit_text_sim.lo, th.clip_edit_text_sim.hi) == (0.2083, 0.2971)
    assert (th.directional_sim.lo, th.directional_sim.hi) == (0.8115, 0.9786)
    assert (th.brisque.lo, th.brisque.hi) == (0.0, 70.0)
    r = sal.apply_saliency(
        th,
        is_black=[False, True, False, False, False],
        brisque=[20.0, 20.0, 70.0, 20.0, 20.0],
        clip_image_sim=[0.9, 0.9, 0.5, 0.9, 0.9],
        clip_edit_text_sim=[0.25, 0.25, 0.25, 0.25, 0.1],
        directional_sim=[0.9, 0.9, 0.9, np.nan, 0.9],
    )
    assert list(r.passed) == [True, False, False, False, False]
    assert list(r.first_failure) == [None, "black_image", "brisque", "directional_sim", "clip_edit_text_sim"]
    assert r.failures[2] == ("brisque", "clip_image_sim")
    assert r.failures[0] == ()


def test_thresholds_json_round_trip_and_missing_inputs():
    th = sal.percentile_thresholds(clip_image_sim=np.arange(10.0), directional_sim=np.arange(10.0))
    s = th.to_json()
    json.loads(s)
    assert sal.SaliencyThresholds.from_json(s) == th
    assert sal.SaliencyThresholds.from_json(sal.RELEASED_THRESHOLDS.to_json()) == sal.RELEASED_THRESHOLDS
    with pytest.raises(ValueError):
        sal.apply_saliency(sal.RELEASED_THRESHOLDS, brisque=[1.0])
    with pytest.raises(ValueError):
        sal.percentile_thresholds(clip_image_sim=[np.nan], directional_sim=[1.0])
