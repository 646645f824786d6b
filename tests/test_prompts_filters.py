"""CLIPScore and CLIP-text-similarity filters on synthetic scores."""

import numpy as np
import pytest

from semitruths_dagster.prompts import PromptRow, clip_score, filter_rows, percentile_window
from semitruths_dagster.prompts.filters import CLIPSCORE_LOW, TEXT_SIM_OUTSIDE


def _row(i, clip=None, sim=None, valid=True, method="p2p"):
    return PromptRow(
        request_id=f"r{i}",
        dataset="d",
        image_id=f"img{i}",
        mask_id=None,
        method=method,
        original=f"cap {i}",
        magnitude="small",
        perturbed=f"new {i}",
        edit_mode="caption",
        backend="rules",
        model_ref=None,
        model_revision=None,
        random_weights=False,
        template_version="t@1",
        seed=i,
        attempts=1,
        valid=valid,
        clip_score=clip,
        clip_text_similarity=sim,
    )


def test_clip_score_is_100_times_clipped_cosine():
    assert clip_score(0.31) == pytest.approx(31.0) and clip_score(-0.2) == 0.0


def test_percentile_window_ignores_missing_values():
    assert percentile_window([None, float("nan"), *range(101)], 5, 95) == (5.0, 95.0)
    with pytest.raises(ValueError):
        percentile_window([None], 5, 95)


def test_percentile_filters_drop_lowest_clipscores_and_similarity_tails():
    rng = np.random.default_rng(0)
    rows = [
        _row(i, clip=float(c), sim=float(s))
        for i, (c, s) in enumerate(zip(rng.uniform(10, 40, 200), rng.uniform(0, 1, 200), strict=True))
    ]
    rows.append(_row(999, clip=None, sim=0.5, valid=False))
    out, cut = filter_rows(rows)
    assert cut.source == "percentile"
    assert cut.clipscore_min == pytest.approx(np.percentile([r.clip_score for r in rows[:200]], 5))
    low = [r for r in out if r.clip_score is not None and r.clip_score < cut.clipscore_min]
    assert len(low) == 10 and all(CLIPSCORE_LOW in r.filter_reasons and not r.kept for r in low)
    outside = [
        r for r in out if r.valid and not cut.text_sim_low <= r.clip_text_similarity <= cut.text_sim_high
    ]
    assert len(outside) == 20 and all(TEXT_SIM_OUTSIDE in r.filter_reasons for r in outside)
    assert out[-1].kept is False and out[-1].filter_reasons == []  # invalid rows are not kept, not filtered
    assert sum(r.kept for r in out) == 200 - len({r.request_id for r in low + outside})


def test_fixed_thresholds_and_unscored_rows():
    rows = [
        _row(0, clip=20, sim=0.5),
        _row(1, clip=30, sim=0.99),
        _row(2, clip=None, sim=0.5),
        _row(3, sim=0.5, method="inpainting"),
    ]
    out, cut = filter_rows(rows, clipscore_min=25, text_sim_bounds=(0.2, 0.9))
    assert cut.source == "fixed"
    assert [r.kept for r in out] == [False, False, False, True]
    assert out[0].filter_reasons == [CLIPSCORE_LOW] and out[1].filter_reasons == [TEXT_SIM_OUTSIDE]
    assert out[2].filter_reasons == ["not_scored: clip_score"]
