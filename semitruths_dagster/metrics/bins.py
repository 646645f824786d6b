"""Binning of change metrics into small / medium / large (paper C.2), direction-aware.

Cutoffs are percentiles over the WHOLE dataset (3 levels at p25/p75, or 5 levels at p20/40/60/80 as in
the released data). For similarity-type metrics a high value is a small change, so the level names are
flipped. Boundary rule (symmetric, so flipping stays consistent): values exactly on a lower cutoff go up
one level, values exactly on an upper cutoff stay in the lower level; e.g. 3 levels of a distance are
small < p25 <= medium <= p75 < large. With heavy ties (many zeros) cutoffs may coincide; that is allowed.
NaN is never binned: its label is None and it is counted in `n_nan`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

import numpy as np

DISTANCE = "distance"  # high value = large change
SIMILARITY = "similarity"  # high value = small change

LEVELS = {
    3: ("small", "medium", "large"),
    5: ("very_small", "small", "medium", "large", "very_large"),
}
PERCENTILES = {3: (25.0, 75.0), 5: (20.0, 40.0, 60.0, 80.0)}
LOCALIZED, DIFFUSED = "localized", "diffused"  # the localization labels (metrics.pixel.localization_labels)
# The natural order of every level name (metric bins, the 3 levels being a subset of the 5; semantic
# magnitude; localization): every table and figure shows levels in this order, other values after them
# alphabetically (`natural_order`).
LEVEL_ORDER = (*LEVELS[5], LOCALIZED, DIFFUSED)
_LEVEL_RANK = {name: i for i, name in enumerate(LEVEL_ORDER)}


def level_key(value: object) -> tuple[int, str]:
    """Sort key: known levels in their natural order first, then any other value alphabetically."""
    text = str(value)
    return _LEVEL_RANK.get(text, len(_LEVEL_RANK)), text


def natural_order(values) -> list[int]:
    """Indices that put `values` in their natural order (`level_key`)."""
    return sorted(range(len(values)), key=lambda i: level_key(values[i]))

# Metric name -> direction. Names follow the released metadata columns plus this package's names.
METRIC_DIRECTIONS: dict[str, str] = {
    # surface area / pixel change
    "ratio": DISTANCE,
    "area_ratio": DISTANCE,
    "post_edit_ratio": DISTANCE,
    "ratio_rgb": DISTANCE,
    "ratio_gray": DISTANCE,
    "mse": DISTANCE,
    "mse_rgb": DISTANCE,
    "mse_gray": DISTANCE,
    "largest_component_ratio": DISTANCE,
    "largest_component_size_rgb": DISTANCE,
    "largest_component_size_gray": DISTANCE,
    "ssim": SIMILARITY,
    "ssim_rgb": SIMILARITY,
    "ssim_gray": SIMILARITY,
    # semantic change
    "lpips": DISTANCE,
    "lpips_score": DISTANCE,
    "dreamsim": DISTANCE,
    # similarities kept as similarities (the released csv stored 1 - max(cos, 0) instead: a distance)
    "sen_sim": SIMILARITY,
    "sentence_similarity": SIMILARITY,
    "clip_sim": SIMILARITY,
    "clip_text_similarity": SIMILARITY,
    "clip_image_similarity": SIMILARITY,
}


def direction_of(metric: str) -> str:
    """Direction of a registered metric; KeyError names the fix for unknown ones."""
    try:
        return METRIC_DIRECTIONS[metric]
    except KeyError:
        raise KeyError(f"unknown metric {metric!r}: pass direction= or add it to METRIC_DIRECTIONS") from None


@dataclass(frozen=True)
class BinCutoffs:
    """Cutoffs used for one metric, ascending in value space; `labels` are in ascending value order too."""

    metric: str | None
    direction: str
    percentiles: tuple[float, ...]
    cutoffs: tuple[float, ...]
    labels: tuple[str, ...]  # len(cutoffs) + 1 names, for values from low to high
    n_values: int = 0  # non-NaN values the cutoffs came from
    n_nan: int = 0

    def __post_init__(self) -> None:
        check_monotone(self.cutoffs)
        if len(self.labels) != len(self.cutoffs) + 1 or len(self.cutoffs) % 2:
            raise ValueError("need an even number of cutoffs and one more label than cutoffs")
        if self.direction not in (DISTANCE, SIMILARITY):
            raise ValueError(f"direction must be {DISTANCE!r} or {SIMILARITY!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: dict) -> BinCutoffs:
        d = dict(d)
        for k in ("percentiles", "cutoffs", "labels"):
            d[k] = tuple(d[k])
        return cls(**d)


@dataclass
class BinResult:
    labels: np.ndarray  # (N,) object array of level names, None for NaN
    cutoffs: BinCutoffs
    counts: dict[str, int] = field(default_factory=dict)  # per level, plus "unbinned"


def check_monotone(cutoffs) -> None:
    """Raise ValueError unless cutoffs are finite and non-decreasing."""
    c = np.asarray(cutoffs, float)
    if not np.all(np.isfinite(c)) or np.any(np.diff(c) < 0):
        raise ValueError(f"cutoffs must be finite and non-decreasing, got {list(c)}")


def compute_cutoffs(
    values: np.ndarray, *, metric: str | None = None, direction: str | None = None, levels: int = 3
) -> BinCutoffs:
    """Percentile cutoffs over the whole dataset (NaN ignored). Direction comes from `metric` via the
    registry unless given."""
    if levels not in LEVELS:
        raise ValueError(f"levels must be one of {sorted(LEVELS)}")
    direction = direction or (direction_of(metric) if metric else None)
    if direction is None:
        raise ValueError("give metric= (registered) or direction=")
    v = np.asarray(values, float)
    finite = v[~np.isnan(v)]
    if finite.size == 0:
        raise ValueError("no non-NaN values to bin")
    pct = PERCENTILES[levels]
    names = LEVELS[levels]
    return BinCutoffs(
        metric=metric,
        direction=direction,
        percentiles=pct,
        cutoffs=tuple(float(x) for x in np.percentile(finite, pct)),
        labels=names[::-1] if direction == SIMILARITY else names,
        n_values=int(finite.size),
        n_nan=int(v.size - finite.size),
    )


def assign_bins(values: np.ndarray, cutoffs: BinCutoffs) -> BinResult:
    """Labels for `values` under given cutoffs (possibly computed on another set: the whole dataset)."""
    v = np.asarray(values, float)
    c = np.asarray(cutoffs.cutoffs)
    half = len(c) // 2
    # lower cutoffs: on the cutoff goes up; upper cutoffs: on the cutoff stays down (see module doc)
    idx = np.searchsorted(c[:half], v, side="right") + np.searchsorted(c[half:], v, side="left")
    names = np.asarray(cutoffs.labels, dtype=object)
    nan = np.isnan(v)
    out = names[np.where(nan, 0, idx)]
    out[nan] = None
    counts = {name: int(np.sum(out == name)) for name in cutoffs.labels}
    counts["unbinned"] = int(nan.sum())
    return BinResult(out, cutoffs, counts)


def bin_metric(
    values: np.ndarray, *, metric: str | None = None, direction: str | None = None, levels: int = 3
) -> BinResult:
    """Cutoffs from `values` (the whole dataset) and the labels of the same values."""
    return assign_bins(values, compute_cutoffs(values, metric=metric, direction=direction, levels=levels))


# --------------------------------------------------------------------------- scene diversity / complexity


@dataclass(frozen=True)
class MeanStdCutoffs:
    mean: float
    std: float
    k: float
    lo: float  # mean - k * std
    hi: float  # mean + k * std
    ddof: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def bin_mean_std(
    values: np.ndarray, *, k: float = 1.0, ddof: int = 0, stats_values: np.ndarray | None = None
) -> tuple[np.ndarray, MeanStdCutoffs]:
    """Scene diversity / complexity bins: small below mean - k*std, large above mean + k*std, else medium.

    `stats_values` (default: `values`) is what mean and std come from; the original took them over unique
    images, while labelling every row, so pass one value per image there. ddof=0 as np.std in the original.
    NaN gets None.
    """
    v = np.asarray(values, float)
    s = np.asarray(values if stats_values is None else stats_values, float)
    s = s[~np.isnan(s)]
    mean, std = float(np.mean(s)), float(np.std(s, ddof=ddof))
    lo, hi = mean - k * std, mean + k * std
    out = np.where(v < lo, "small", np.where(v > hi, "large", "medium")).astype(object)
    out[np.isnan(v)] = None
    return out, MeanStdCutoffs(mean, std, k, lo, hi, ddof)
