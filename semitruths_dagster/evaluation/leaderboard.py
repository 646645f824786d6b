"""The leaderboard across detectors: one row each, headline metrics at the default and calibrated thresholds.

`leaderboard(results)` is the table (one row per detector, best ROC-AUC first); `provider_values` adds
the columns that come from beside each detector's result (`columns.COLUMN_PROVIDERS`, the extension
point for extra columns); `write_leaderboard_html` draws the page (`leaderboard_page`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..storage.location import write_text
from .columns import (  # noqa: F401  (re-exported: the leaderboard's public names)
    COLUMN_PROVIDERS,
    ROBUSTNESS,
    Column,
    ColumnProvider,
    Table,
    cell_text,
    page_columns,
    provider_values,
    text_columns,
)
from .evaluate import EvaluationResult
from .leaderboard_page import render_page

HEADLINE = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "fake_f1")


def _bounds(r: EvaluationResult, key: str, which: str | None = None) -> list:
    iv = r.ranking_intervals if which is None else r.intervals.get(which, {})
    lo_hi = iv.get(key) or [None, None]
    return [math.nan if v is None else float(v) for v in lo_hi]


def leaderboard(results: Sequence[EvaluationResult]) -> Table:
    """Column table, best ROC-AUC first (NaN last); random-weight detectors are flagged in their own column."""
    order = sorted(
        results, key=lambda r: -r.ranking["roc_auc"] if math.isfinite(r.ranking["roc_auc"]) else math.inf
    )
    cols: Table = {
        "rank": [],
        "detector": [],
        "random_weights": [],
        "edits_random_weights": [],  # edited images made by random-weight generators: noise
        "n_rows": [],
        "roc_auc": [],
        "roc_auc_lo": [],
        "roc_auc_hi": [],
        "average_precision": [],
        "average_precision_lo": [],
        "average_precision_hi": [],
        "calibrated_balanced_accuracy_lo": [],
        "calibrated_balanced_accuracy_hi": [],
        "target_fpr": [],
    }
    for which in ("default", "calibrated"):
        cols[f"{which}_threshold"] = []
        for k in HEADLINE:
            cols[f"{which}_{k}"] = []
    for i, r in enumerate(order, 1):
        cols["rank"].append(i)
        cols["detector"].append(r.detector)
        cols["random_weights"].append(r.random_weights)
        cols["edits_random_weights"].append(int(r.settings.get("edits_random_weights") or 0))
        cols["n_rows"].append(r.n_rows)
        cols["target_fpr"].append(r.target_fpr)
        for key in ("roc_auc", "average_precision"):
            cols[key].append(r.ranking[key])
            lo, hi = _bounds(r, key)
            cols[f"{key}_lo"].append(lo)
            cols[f"{key}_hi"].append(hi)
        lo, hi = _bounds(r, "balanced_accuracy", "calibrated")
        cols["calibrated_balanced_accuracy_lo"].append(lo)
        cols["calibrated_balanced_accuracy_hi"].append(hi)
        for which in ("default", "calibrated"):
            m = r.metrics.get(which, {})
            cols[f"{which}_threshold"].append(r.thresholds.get(which, math.nan))
            for k in HEADLINE:
                cols[f"{which}_{k}"].append(m.get(k, math.nan))
    return cols


def leaderboard_markdown(table: Table, providers: Sequence[ColumnProvider] | None = None) -> str:
    """A Markdown table of the leaderboard's page columns (intervals beside their values)."""
    cols = [c for c in page_columns(providers) if c.key in table]
    lines = ["| " + " | ".join(c.title for c in cols) + " |", "|" + "---|" * len(cols)]
    for i in range(len(table["detector"])):
        lines.append("| " + " | ".join(cell_text(table, c, i) for c in cols) + " |")
    return "\n".join(lines)


def write_leaderboard_html(table: Table, path: str | Path, results: Sequence[EvaluationResult] = (),
                           reports: dict[str, str | Path] | None = None,
                           providers: Sequence[ColumnProvider] | None = None) -> Path:
    """The standalone page (see `leaderboard_page`); says so first if any detector had random weights."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, render_page(table, path.parent, results, reports or {}, page_columns(providers)))
