"""Known-answer tests for semitruths_dagster.metrics.bins."""

import json

import numpy as np
import polars as pl
import pytest

from semitruths_dagster.metrics import bins


def test_three_levels_distance():
    v = np.arange(100.0)
    r = bins.bin_metric(v, metric="mse_rgb")
    assert r.cutoffs.cutoffs == pytest.approx((24.75, 74.25))
    assert r.counts == {"small": 25, "medium": 50, "large": 25, "unbinned": 0}
    assert r.labels[0] == "small" and r.labels[50] == "medium" and r.labels[99] == "large"


def test_similarity_flips_high_value_is_small_change():
    v = np.arange(100.0) / 100
    r = bins.bin_metric(v, metric="ssim_rgb")
    assert r.cutoffs.direction == bins.SIMILARITY
    assert r.labels[99] == "small" and r.labels[0] == "large" and r.labels[50] == "medium"
    assert r.counts["small"] == 25 and r.counts["large"] == 25
    # flipping is exactly binning the negated values as a distance
    d = bins.bin_metric(-v, direction=bins.DISTANCE)
    assert list(r.labels) == list(d.labels)


def test_boundary_values():
    c = bins.BinCutoffs("x", bins.DISTANCE, (25.0, 75.0), (1.0, 3.0), bins.LEVELS[3])
    assert list(bins.assign_bins([0.999, 1.0, 3.0, 3.001], c).labels) == [
        "small",
        "medium",
        "medium",
        "large",
    ]
    s = bins.BinCutoffs("x", bins.SIMILARITY, (25.0, 75.0), (1.0, 3.0), bins.LEVELS[3][::-1])
    assert list(bins.assign_bins([0.999, 1.0, 3.0, 3.001], s).labels) == [
        "large",
        "medium",
        "medium",
        "small",
    ]


def test_five_levels():
    v = np.arange(100.0)
    r = bins.bin_metric(v, metric="post_edit_ratio", levels=5)
    assert r.cutoffs.percentiles == (20.0, 40.0, 60.0, 80.0)
    assert [r.counts[k] for k in bins.LEVELS[5]] == [20, 20, 20, 20, 20]
    assert r.labels[0] == "very_small" and r.labels[99] == "very_large"
    s = bins.bin_metric(v, metric="sen_sim", levels=5)
    assert s.labels[0] == "very_large" and s.labels[99] == "very_small"


def test_nan_unbinned_and_counted():
    v = np.array([1.0, np.nan, 2.0, 3.0, np.nan, 4.0])
    r = bins.bin_metric(v, metric="dreamsim")
    assert r.labels[1] is None and r.labels[4] is None
    assert r.counts["unbinned"] == 2 and r.cutoffs.n_nan == 2 and r.cutoffs.n_values == 4
    assert sum(r.counts.values()) == 6


def test_cutoffs_monotone_and_serialisable():
    rng = np.random.default_rng(0)
    for levels in (3, 5):
        c = bins.compute_cutoffs(rng.lognormal(size=1000), metric="lpips_score", levels=levels)
        assert np.all(np.diff(c.cutoffs) >= 0)
        d = json.loads(c.to_json())
        assert bins.BinCutoffs.from_dict(d) == c
    bad = dict(c.to_dict(), cutoffs=[1.0, 0.5, 2.0, 3.0])
    with pytest.raises(ValueError):
        bins.BinCutoffs.from_dict(bad)
    with pytest.raises(ValueError):
        bins.check_monotone([0.0, np.nan])


def test_ties_and_registry():
    v = np.array([0.0] * 80 + [0.5] * 20)  # many zero post-edit ratios: p25 == p75 == 0
    r = bins.bin_metric(v, metric="post_edit_ratio")
    assert r.cutoffs.cutoffs == (0.0, 0.0)
    assert r.counts["medium"] == 80 and r.counts["large"] == 20
    with pytest.raises(KeyError):
        bins.direction_of("no_such_metric")
    assert bins.bin_metric(np.arange(4.0), direction=bins.SIMILARITY).labels[3] == "small"
    with pytest.raises(ValueError):
        bins.compute_cutoffs(np.arange(4.0))  # no metric, no direction


def test_scene_mean_std_bins():
    v = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, np.nan])
    labels, c = bins.bin_mean_std(v)
    assert c.mean == pytest.approx(4.0) and c.std == pytest.approx(2.0)  # population std
    assert (c.lo, c.hi) == (pytest.approx(2.0), pytest.approx(6.0))
    assert list(labels) == ["small", "medium", "medium", "medium", "medium", "medium", "large", None]
    labels, c = bins.bin_mean_std(np.array([1.0, 1.0, 9.0]), stats_values=np.array([1.0, 9.0]))
    assert c.mean == 5.0 and list(labels) == ["medium", "medium", "medium"]
    assert json.loads(json.dumps(c.to_dict()))["k"] == 1.0


def test_one_scene_binning_over_every_dataset():
    """Complexities 1, 2, 3 (dataset A) and 7, 8, 9 (B): over all six images mean 5, std sqrt(58/6), so
    only 1 is small and only 9 is large. Binned per dataset (as `masks` did), 3 was 'large' in A."""
    from semitruths_dagster.masks.stage import SCHEMA as MASKS_SCHEMA
    from semitruths_dagster.metrics.bins_stage import scene_bins

    counts = {"a1": 1, "a2": 2, "a3": 3, "b1": 7, "b2": 8, "b3": 9}
    rows = [{"image_id": i, "dataset": "A" if i < "b" else "B", "scene_diversity": n, "scene_complexity": n}
            for i, n in counts.items() for _ in range(n)]  # one row per mask: complexity = masks per image
    scenes, cutoffs = scene_bins(pl.DataFrame(rows))
    got = dict(zip(scenes["image_id"], scenes["scene_complexity_bin"], strict=True))
    assert got == {"a1": "small", "a2": "medium", "a3": "medium", "b1": "medium", "b2": "medium", "b3": "large"}
    lo, hi = next(c["cutoffs"] for c in cutoffs if c["metric"] == "scene_complexity")
    assert (lo, hi) == (pytest.approx(5 - (58 / 6) ** 0.5), pytest.approx(5 + (58 / 6) ** 0.5))
    assert json.loads(cutoffs[0]["computed_over"]) == ["A", "B"]
    assert bins.bin_mean_std(np.array([1.0, 2.0, 3.0]))[0][2] == "large"  # what per-partition binning gave
    assert not any(c.endswith("_bin") for c in MASKS_SCHEMA)  # masks keep the counts, never their own bins
