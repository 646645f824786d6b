"""The leaderboard across detectors: one row each, headline metrics at the default and calibrated thresholds.

`leaderboard(results)` is the table (one row per detector, best ROC-AUC first); `provider_values` adds
the columns that come from beside each detector's result (`COLUMN_PROVIDERS`); `write_leaderboard_html`
(in `leaderboard_page`) draws the page.

Extension point: a new leaderboard column (localization F1, say) is one `ColumnProvider` appended to
`COLUMN_PROVIDERS`: what its columns are (`Column`: key, header, what it means, interval or not) and
a function reading their values from beside a detector's `result.json`. The `leaderboard` asset and
the page take it from there (the table's schema, the sortable column, its note).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .evaluate import EvaluationResult
from .formatting import is_count, with_interval

# The leaderboard is small (one row per detector): plain lists.
Table = dict[str, list]
HEADLINE = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "fake_f1")
NUMBER, COUNT, TEXT, FLAG = "number", "count", "text", "flag"


@dataclass(frozen=True)
class Column:
    """One column of the page. `key` in the row (with `<key>_lo` / `<key>_hi` when `interval`); `kind`:
    number, count (printed as an integer), text, or flag (yes / no)."""

    key: str
    title: str
    doc: str
    kind: str = NUMBER
    interval: bool = False
    digits: int = 3


@dataclass(frozen=True)
class ColumnProvider:
    """Columns read from beside a detector's result: `values(result_path)` returns their values (and
    `_lo` / `_hi` of those with an interval), None where a detector has none."""

    name: str
    columns: tuple[Column, ...]
    values: Callable[[str | Path], dict[str, Any]]


def _robustness_values(result_path: str | Path) -> dict[str, Any]:
    from .robustness import leaderboard_columns  # matplotlib and the controls: only when a page is made

    return leaderboard_columns(result_path)


ROBUSTNESS = ColumnProvider("robustness", (
    Column("tpr_at_1fpr", "TPR @ 1% FPR", "share of edits flagged at the threshold where 1% of clean reals are "
           "flagged (clean condition)", interval=True),
    Column("tpr_at_5fpr", "TPR @ 5% FPR", "the same at 5% of reals flagged", interval=True),
    Column("worst_condition", "worst condition", "the post-processing condition with the lowest ROC-AUC", kind=TEXT),
    Column("worst_condition_roc_auc_drop", "worst drop", "ROC-AUC on clean images minus ROC-AUC under the worst "
           "condition (paired bootstrap interval)", interval=True),
    Column("pasted_back_recall", "pasted-back flagged", "share of pasted-back edits (original pixels restored "
           "outside the mask) flagged fake at the calibrated threshold: far below the edits' recall means the "
           "detector sees the VAE outside the edit", interval=True),
    Column("vae_roundtrip_flagged", "VAE round-trip flagged", "share of real images passed through a generator's "
           "VAE, no edit, flagged fake at the calibrated threshold: far above the calibrated FPR means the "
           "detector sees the pipeline, not the edit", interval=True),
), _robustness_values)
# Extra leaderboard columns (e.g. localization F1): append a ColumnProvider here.
COLUMN_PROVIDERS: list[ColumnProvider] = [ROBUSTNESS]

HEAD_COLUMNS = (
    Column("rank", "rank", "by ROC-AUC, best first", kind=COUNT),
    Column("detector", "detector", "the registered detector; the link opens its report", kind=TEXT),
    Column("random_weights", "random weights", "ran with random weights: its numbers are noise", kind=FLAG),
    Column("roc_auc", "ROC-AUC", "area under the ROC curve, edits against reals (threshold-free)", interval=True),
    Column("average_precision", "AP", "average precision, edits the positive class", interval=True),
    Column("calibrated_balanced_accuracy", "balanced accuracy", "mean of fake recall and real recall at the "
           "calibrated threshold (false-positive rate on reals at most the target)", interval=True),
)
TAIL_COLUMNS = (
    Column("images_per_s", "images/s", "median scoring throughput of the detector's prediction runs", digits=1),
    Column("n_rows", "rows", "images scored (reals and edits, clean condition)", kind=COUNT),
)


def page_columns(providers: Sequence[ColumnProvider] | None = None) -> list[Column]:
    """The columns of the page's table, in order."""
    providers = COLUMN_PROVIDERS if providers is None else providers
    return [*HEAD_COLUMNS, *(c for p in providers for c in p.columns), *TAIL_COLUMNS]


def text_columns(providers: Sequence[ColumnProvider] | None = None) -> set[str]:
    """Keys of the columns that hold text (the table's schema reads them as strings)."""
    return {c.key for c in page_columns(providers) if c.kind == TEXT} | {"detector"}


def provider_values(result_path: str | Path, providers: Sequence[ColumnProvider] | None = None) -> dict[str, Any]:
    """Every provider's values for one detector."""
    out: dict[str, Any] = {}
    for provider in COLUMN_PROVIDERS if providers is None else providers:
        out |= provider.values(result_path)
    return out


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


def cell_text(table: Table, column: Column, i: int) -> str:
    """One cell as text (not escaped): the value, with its interval when the column has one."""
    value = table.get(column.key, [None] * (i + 1))[i]
    if column.kind == FLAG:
        return "yes" if value else "no"
    bounds = None
    if column.interval and f"{column.key}_lo" in table:
        bounds = (table[f"{column.key}_lo"][i], table[f"{column.key}_hi"][i])
    if bounds is not None and any(b is None for b in bounds):
        bounds = None
    return with_interval(value, bounds, count=column.kind == COUNT or is_count(column.key), digits=column.digits)


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
    from .leaderboard_page import render_page

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(table, path.parent, results, reports or {}, page_columns(providers)),
                    encoding="utf-8")
    return path
