"""How values print in the reports, the leaderboard and their Markdown previews: one rule for all.

Counts (named in `COUNTS`, or Python / numpy integers) print as integers even when a table stored them
as floats (JSON, polars); other numbers with fixed decimals; a missing number (None, NaN) as '-'.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

# Columns (and metric rows) that hold counts of images or ranks, whatever their stored type.
COUNTS = frozenset({
    "tp", "fp", "fn", "tn", "n", "n_rows", "n_real", "n_fake", "n_edited", "detected", "flagged", "rank",
    "edits_random_weights",
})  # fmt: skip
MISSING = "-"


def is_count(name: str | None) -> bool:
    return name in COUNTS


def number(value: Any, *, count: bool = False, digits: int = 4) -> str:
    """One value as text (not HTML-escaped): integers and counts without decimals, floats with `digits`,
    booleans as yes / no, missing as '-'."""
    if value is None:
        return MISSING
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        v = float(value)
        if not math.isfinite(v):
            return MISSING
        return str(int(round(v))) if count else f"{v:.{digits}f}"
    return str(value)


def interval(bounds: Any, *, count: bool = False, digits: int = 4) -> str:
    """'[lo, hi]', or '' when there is no finite interval."""
    if bounds is None or len(bounds) != 2 or any(b is None or not math.isfinite(float(b)) for b in bounds):
        return ""
    lo, hi = bounds
    return f"[{number(float(lo), count=count, digits=digits)}, {number(float(hi), count=count, digits=digits)}]"


def with_interval(value: Any, bounds: Any, *, count: bool = False, digits: int = 4) -> str:
    """'0.8120 [0.7500, 0.8700]', or the value alone without a finite interval."""
    iv = interval(bounds, count=count, digits=digits)
    text = number(value, count=count, digits=digits)
    return f"{text} {iv}" if iv and text != MISSING else text
