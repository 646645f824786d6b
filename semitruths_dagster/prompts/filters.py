"""Dataset-level filters of perturbed prompts (SPEC 3, paper B.1): CLIPScore and CLIP text similarity.

Percentile cutoffs are only meaningful over a whole dataset, so they are computed over every row given
(all partitions, when the caller has them) or replaced by fixed thresholds from the configuration. The
cutoffs used are returned, to be stored beside the rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from .records import PromptRow

CLIPSCORE_LOW = "clipscore_below_cutoff"
TEXT_SIM_OUTSIDE = "clip_text_similarity_outside_window"
NOT_SCORED = "not_scored"


def clip_score(cosine: float) -> float:
    """CLIPScore of an image and a caption from their CLIP cosine: 100 * max(cos, 0) (Hessel et al.'s
    max(cos, 0), scaled by 100 instead of their 2.5 as the project specifies)."""
    return 100.0 * max(float(cosine), 0.0)


def percentile_window(values: Sequence[float | None], low: float, high: float) -> tuple[float, float]:
    """The (low, high) percentiles (0-100, linear interpolation) of the finite values."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if finite.size == 0:
        raise ValueError("no finite scores to take percentiles of")
    lo, hi = np.percentile(finite, [low, high])
    return float(lo), float(hi)


@dataclass(frozen=True)
class FilterCutoffs:
    """The cutoffs a filter run used, and whether they came from percentiles or fixed thresholds."""

    clipscore_min: float | None
    text_sim_low: float | None
    text_sim_high: float | None
    source: str  # 'percentile' or 'fixed'
    clipscore_percentile: float | None = None
    text_sim_percentiles: tuple[float, float] | None = None


def compute_cutoffs(
    rows: Sequence[PromptRow],
    clipscore_percentile: float = 5.0,
    text_sim_percentiles: tuple[float, float] = (5.0, 95.0),
) -> FilterCutoffs:
    """Percentile cutoffs over the valid rows. CLIPScore counts each (image, caption) once, so images
    with many edits do not weigh more."""
    valid = [r for r in rows if r.valid]
    per_caption = {(r.image_id, r.original): r.clip_score for r in valid if r.clip_score is not None}
    clip_min = (
        percentile_window(list(per_caption.values()), clipscore_percentile, 100)[0] if per_caption else None
    )
    sims = [r.clip_text_similarity for r in valid if r.clip_text_similarity is not None]
    low, high = percentile_window(sims, *text_sim_percentiles) if sims else (None, None)
    return FilterCutoffs(clip_min, low, high, "percentile", clipscore_percentile, tuple(text_sim_percentiles))


def apply_filters(rows: Sequence[PromptRow], cutoffs: FilterCutoffs) -> list[PromptRow]:
    """Copies of the rows with `filter_reasons` and `kept` set.

    A row is kept when it is valid and passes both filters that have a cutoff; a cutoff of None skips its
    filter (e.g. no CLIPScore for inpainting labels). A row lacking a score a filter needs is not kept
    ('not_scored'), so unscored rows never pass silently.
    """
    out = []
    for row in rows:
        reasons: list[str] = []
        if row.valid:
            if cutoffs.clipscore_min is not None and row.method == "p2p":
                if row.clip_score is None:
                    reasons.append(f"{NOT_SCORED}: clip_score")
                elif row.clip_score < cutoffs.clipscore_min:
                    reasons.append(CLIPSCORE_LOW)
            if cutoffs.text_sim_low is not None and cutoffs.text_sim_high is not None:
                sim = row.clip_text_similarity
                if sim is None:
                    reasons.append(f"{NOT_SCORED}: clip_text_similarity")
                elif not cutoffs.text_sim_low <= sim <= cutoffs.text_sim_high:
                    reasons.append(TEXT_SIM_OUTSIDE)
        out.append(replace(row, filter_reasons=reasons, kept=row.valid and not reasons))
    return out


def filter_rows(
    rows: Sequence[PromptRow],
    clipscore_percentile: float = 5.0,
    text_sim_percentiles: tuple[float, float] = (5.0, 95.0),
    clipscore_min: float | None = None,
    text_sim_bounds: tuple[float, float] | None = None,
) -> tuple[list[PromptRow], FilterCutoffs]:
    """Filter with percentile cutoffs over `rows`; with fixed thresholds instead when either is given
    (then a threshold left out skips its filter)."""
    if clipscore_min is not None or text_sim_bounds is not None:
        low, high = text_sim_bounds if text_sim_bounds is not None else (None, None)
        cutoffs = FilterCutoffs(clipscore_min, low, high, "fixed")
    else:
        cutoffs = compute_cutoffs(rows, clipscore_percentile, text_sim_percentiles)
    return apply_filters(rows, cutoffs), cutoffs
