"""What the evaluation computes once per table of rows and shares across every detector scored on it:
the attributes' integer codes, the directional edit pairs, the packed group keys and the clusters (with
their cached resample weights). Only the scores differ between detectors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .bootstrap import Clusters, make_clusters
from .counting import GroupCounter
from .groups import Categorical, encode_attributes, pair_categorical

DEFAULT_PAIR_COLUMNS = ("original_label", "perturbed_label")
PAIRS = "(edit pairs)"  # the edit pairs' name in the counter


@dataclass(frozen=True)
class PreparedTable:
    """Labels, encoded attributes (pair columns excluded), edit pairs, group counter, clusters."""

    y: np.ndarray
    attributes: dict[str, Categorical]
    pairs: Categorical | None
    counter: GroupCounter
    clusters: Clusters | None


def prepare_table(
    y_true: Any,
    attributes: Mapping[str, Any] | None = None,
    *,
    pair_columns: tuple[str, str] = DEFAULT_PAIR_COLUMNS,
    clusters: Any = None,
) -> PreparedTable:
    """Encode a table once for many detectors. `attributes`: column -> values (or `Categorical`s); the two
    `pair_columns`, when both present, become the directional edit pairs. `clusters`: the source image
    of every row (or a `Clusters`), None for the row bootstrap."""
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be 1-D and hold only 0 (real) and 1 (fake)")
    y = y.astype(bool)
    cats = encode_attributes(attributes or {})
    for name, cat in cats.items():
        if len(cat) != y.size:
            raise ValueError(f"attribute '{name}' has {len(cat)} rows, scores have {y.size}")
    pairs = None
    if all(c in cats for c in pair_columns):
        pairs = pair_categorical(cats.pop(pair_columns[0]), cats.pop(pair_columns[1]))
    if PAIRS in cats:
        raise ValueError(f"attribute name '{PAIRS}' is reserved for the edit pairs")
    counted = dict(cats)
    if pairs is not None:
        counted[PAIRS] = Categorical(np.where(y, pairs.codes, -1), pairs.categories)  # pairs count fakes only
    if clusters is not None:
        if len(clusters.codes if isinstance(clusters, Clusters) else clusters) != y.size:
            raise ValueError(f"clusters do not have one entry per row ({y.size} rows)")
        if not isinstance(clusters, Clusters):
            clusters = make_clusters(y, clusters)
    return PreparedTable(y, cats, pairs, GroupCounter(y, counted), clusters)
