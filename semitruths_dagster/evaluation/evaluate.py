"""Evaluate one detector: metrics at its default and a calibrated threshold, breakdowns, intervals, curves.

Input: y_true (1 = fake), scores = P(fake), and per-row attributes (dataset, method, generator, metric
bins, localization, scene bins, original / perturbed label, ...). Output: an `EvaluationResult`, plain
data (JSON-able with `to_dict`) that the plots, the HTML report and the leaderboard read.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .bootstrap import cluster_bootstrap, confusion_intervals, ranking_intervals, recall_intervals
from .classification import as_inputs
from .groups import Table
from .point import point_metrics
from .prepared import DEFAULT_PAIR_COLUMNS, PreparedTable, prepare_table
from .ranking import (
    ap_from_counts,
    auc_from_counts,
    binned_counts,
    sort_scores,
    thinned_curves,
)
from .thresholds import calibrated_threshold


@dataclass
class EvaluationResult:
    """Everything measured for one detector; threshold-dependent parts are keyed 'default' / 'calibrated'.

    `breakdowns[which][attribute]` and `pairs[which]` are column tables (numpy arrays; lists after a
    JSON round trip): value / n_fake / detected / recall / recall_lo / recall_hi (+ n_real / flagged /
    fpr for attributes; rank / pair for edit pairs, lowest recall first).
    """

    detector: str
    random_weights: bool
    n_rows: int
    n_real: int
    n_fake: int
    thresholds: dict[str, float]
    target_fpr: float
    metrics: dict[str, dict[str, float]]
    intervals: dict[str, dict[str, list[float]]]
    ranking: dict[str, float]
    ranking_intervals: dict[str, list[float]]
    breakdowns: dict[str, dict[str, Table]]
    pairs: dict[str, Table]
    curves: dict[str, dict[str, list[float]]]
    settings: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe content (NaN and infinities become None)."""
        return _clean(asdict(self))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> EvaluationResult:
        """Inverse of `to_dict` (tables come back as lists; every consumer here takes both)."""
        return cls(**dict(data))

    def headline(self, which: str = "default") -> dict[str, Any]:
        """The leaderboard figures at one threshold."""
        m = self.metrics[which]
        keys = (
            "accuracy",
            "balanced_accuracy",
            "real_recall",
            "fake_recall",
            "fake_precision",
            "fake_f1",
            "macro_f1",
        )
        return {"threshold": self.thresholds[which], **{k: m[k] for k in keys}}


def _clean(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, float | np.floating):
        return None if not math.isfinite(float(obj)) else float(obj)
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def _with_intervals(table: Table, level: float, min_count: int) -> Table:
    """Wilson intervals, and whether the group has enough fakes to be ranked (shown either way)."""
    lo, hi = recall_intervals(table["detected"], table["n_fake"], level)
    return {**table, "recall_lo": lo, "recall_hi": hi, "ranked": np.asarray(table["n_fake"]) >= min_count}


def interval_note(clustered: bool, n_boot: int, level: float, min_count: int, n_clusters: int) -> str:
    """How the intervals were computed, in words, for the report."""
    head = (f"{level:.0%} percentile intervals from {n_boot} cluster-bootstrap resamples of the {n_clusters} "
            "source images (each image drawn with its real row and all its edits; drawn within strata of "
            "images with reals only, edits only, or both); the calibrated threshold is chosen again inside "
            "every resample") if clustered else (
            f"{level:.0%} percentile intervals from {n_boot} row-bootstrap resamples (rows treated as independent: "
            "no source image was given, so intervals are too narrow when edits share an image)")
    return (f"{head}. Group recalls: Wilson score intervals (statsmodels), treating a group's edits as "
            f"independent; groups with fewer than {min_count} edited images are shown but not ranked.")


def evaluate_detector(
    y_true: Any,
    scores: Any,
    attributes: Mapping[str, Any] | None = None,
    *,
    detector: str = "detector",
    random_weights: bool = False,
    threshold: float = 0.5,
    target_fpr: float = 0.05,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    max_bins: int = 1000,
    pair_columns: tuple[str, str] = DEFAULT_PAIR_COLUMNS,
    min_group_count: int = 20,
    clusters: Any = None,
) -> EvaluationResult:
    """Evaluate one detector's scores. `attributes`: column name -> values (or pre-encoded `Categorical`s),
    or a `prepare_table` result, which shares the encodings, group keys, clusters and resample weights
    across the detectors scored on the same rows (then `clusters` goes to `prepare_table`). The two `pair_columns`, when present,
    form the directional edit pairs instead of getting breakdowns of their own. `clusters`: the source
    image of every row (real rows and their edits share it): intervals then come from the cluster
    bootstrap; without it, from the row bootstrap. Groups (and edit pairs) with fewer than
    `min_group_count` edited images are reported but not ranked."""
    y, s = as_inputs(y_true, scores)
    if isinstance(attributes, PreparedTable):
        table = attributes
        if clusters is not None:
            raise ValueError("give clusters to prepare_table, not with a prepared table")
        if table.y.size != y.size or not np.array_equal(table.y, y):
            raise ValueError("y_true differs from the prepared table's labels")
    else:
        table = prepare_table(y, attributes, pair_columns=pair_columns, clusters=clusters)
    srt = sort_scores(y, s)
    ranked = srt.counts
    real_desc = srt.scores[~srt.fake]  # real scores, highest first
    thresholds = {"default": float(threshold), "calibrated": calibrated_threshold(real_desc, target_fpr)}
    metrics, intervals, breakdowns, pairs = {}, {}, {}, {}
    for k, (which, t) in enumerate(thresholds.items()):
        if math.isnan(t):  # no real rows: nothing to calibrate on
            continue
        point = point_metrics(y, s, table, t, min_group_count)
        m = point.metrics
        m["fpr"] = float(np.count_nonzero(real_desc > t) / real_desc.size) if real_desc.size else math.nan
        metrics[which] = m
        if table.clusters is None:
            counts = {c: int(m[c]) for c in ("tp", "fp", "fn", "tn")}
            intervals[which] = {
                n: list(v) for n, v in confusion_intervals(counts, n_boot, [seed, k], level).items()
            }
        breakdowns[which] = {name: _with_intervals(tab, level, min_group_count)
                             for name, tab in point.breakdowns.items()}
        if point.pairs is not None:
            pairs[which] = _with_intervals(point.pairs, level, min_group_count)

    ranking = {
        "roc_auc": float(auc_from_counts(ranked.pos, ranked.neg)),
        "average_precision": float(ap_from_counts(ranked.pos, ranked.neg)),
    }
    if table.clusters is None:
        rank_iv = ranking_intervals(binned_counts(ranked, max_bins), n_boot, [seed, 100], level)
        n_clusters = int(y.size)
    else:
        n_clusters = table.clusters.n
        boot, rank_iv = cluster_bootstrap(
            y, s, table.clusters, {w: thresholds[w] for w in metrics}, target_fpr=target_fpr, n_boot=n_boot,
            seed=seed, level=level, max_bins=max_bins, sorted_scores=srt)
        intervals = {w: {n: list(v) for n, v in iv.items()} for w, iv in boot.items()}
    fpr, tpr, recall, precision = thinned_curves(ranked)
    return EvaluationResult(
        detector=detector,
        random_weights=bool(random_weights),
        n_rows=int(y.size),
        n_real=int((~y).sum()),
        n_fake=int(y.sum()),
        thresholds=thresholds,
        target_fpr=float(target_fpr),
        metrics=metrics,
        intervals=intervals,
        ranking=ranking,
        ranking_intervals={n: list(v) for n, v in rank_iv.items()},
        breakdowns=breakdowns,
        pairs=pairs,
        curves={
            "roc": {"fpr": fpr.tolist(), "tpr": tpr.tolist()},
            "pr": {"recall": recall.tolist(), "precision": precision.tolist()},
        },
        settings={
            "n_boot": n_boot,
            "seed": seed,
            "level": level,
            "max_bins": max_bins,
            "rule": "fake iff score > threshold",
            "interval_method": "cluster_bootstrap" if table.clusters is not None else "row_bootstrap",
            "group_interval_method": "wilson",
            "min_group_count": min_group_count,
            "intervals": interval_note(table.clusters is not None, n_boot, level, min_group_count, n_clusters),
        },
    )
