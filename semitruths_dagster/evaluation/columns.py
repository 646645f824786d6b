"""The leaderboard's columns: what each is, how a cell prints, and where the extra ones come from.

Extension point: a new leaderboard column (localization F1, say) is one `ColumnProvider` appended to
`COLUMN_PROVIDERS`: what its columns are (`Column`: key, header, what it means, interval or not) and
a function reading their values from beside a detector's `result.json`. The `leaderboard` asset
(`provider_values`), the table's schema (`text_columns`) and the page (`page_columns`) take it from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .formatting import is_count, with_interval

# The leaderboard is small (one row per detector): plain lists.
Table = dict[str, list]
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
# `localization_evaluation` writes its result here, beside the detector's evaluation result.json.
LOCALIZATION_DIR = "localization"


def _localization_values(result_path: str | Path) -> dict[str, Any]:
    """Post-edit-mask F1 / IoU (at 0.5, mean per edit, cluster-bootstrap interval) and the false-alarm area on
    reals, from `<report dir>/localization/result.json`; None for a detector without maps."""
    import json

    path = Path(result_path).parent / LOCALIZATION_DIR / "result.json"
    out: dict[str, Any] = {}
    for key in ("loc_f1", "loc_iou", "loc_false_alarm"):
        out |= {key: None, f"{key}_lo": None, f"{key}_hi": None}
    if not path.is_file():
        return out
    result = json.loads(path.read_text())
    post = result.get("truths", {}).get("post_edit_mask", {}).get("metrics", {})
    for key, stat in (("loc_f1", post.get("f1")), ("loc_iou", post.get("iou")),
                      ("loc_false_alarm", result.get("false_alarm"))):
        if stat:
            out |= {key: stat.get("mean"), f"{key}_lo": stat.get("lo"), f"{key}_hi": stat.get("hi")}
    return out


LOCALIZATION = ColumnProvider("localization", (
    Column("loc_f1", "localization F1", "pixel F1 at 0.5 against the post-edit mask, mean per edited image "
           "(maps: the localizer's own or a sliding window; empty without maps)", interval=True),
    Column("loc_iou", "localization IoU", "pixel IoU at 0.5 against the post-edit mask, mean per edited image",
           interval=True),
    Column("loc_false_alarm", "false-alarm area", "mean share of a real image's pixels flagged at 0.5 (a map "
           "that flags everything scores F1 well and fails here)", interval=True),
), _localization_values)
# Extra leaderboard columns: append a ColumnProvider here.
COLUMN_PROVIDERS: list[ColumnProvider] = [ROBUSTNESS, LOCALIZATION]

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
