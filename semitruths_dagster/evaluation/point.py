"""Point estimates at one threshold over a prepared table: the confusion metrics, every attribute's
breakdown and the ranked edit pairs, from one pass of group counting (no intervals)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .classification import metrics_at
from .groups import Table, breakdown_table, pairs_table
from .prepared import PAIRS, PreparedTable


@dataclass(frozen=True)
class PointMetrics:
    """`metrics`: as `threshold_metrics`; `breakdowns`: attribute -> `breakdown` table; `pairs`: as
    `ranked_pairs` (None without pair columns)."""

    metrics: dict[str, float]
    breakdowns: dict[str, Table]
    pairs: Table | None


def point_metrics(
    y: np.ndarray, scores: np.ndarray, table: PreparedTable, threshold: float, min_group_count: int = 20
) -> PointMetrics:
    """Everything threshold-dependent at `threshold` (rule: fake iff score > threshold), no intervals.
    `y` (bool) and `scores` (float64) as `classification.as_inputs` gives them."""
    predicted = scores > threshold
    counts = table.counter.counts(predicted)
    breakdowns = {name: breakdown_table(cat.categories, *_columns(counts[name]))
                  for name, cat in table.attributes.items()}
    pairs = None
    if table.pairs is not None:
        pairs = pairs_table(breakdown_table(table.pairs.categories, *_columns(counts[PAIRS])), min_group_count)
    return PointMetrics(metrics_at(y, predicted, threshold), breakdowns, pairs)


def _columns(c) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return c.n_fake, c.hit, c.n_real, c.flagged
