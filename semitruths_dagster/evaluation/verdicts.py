"""One sentence each for a report's summary: the worst post-processing condition, and what every control
says about the detector (does it see the edit, or the pipeline?).

A control's verdict rests on its paired difference with what it is compared with (`controls.kinds`):
clear when the difference's interval leaves out zero, "no clear difference" otherwise; without an
interval (no bootstrap) the sentence says so and gives the point values only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..conditions import CLEAN
from ..controls.kinds import CONTROLS
from .formatting import interval

CI = "_ci"


def _finite(value: Any) -> bool:
    return value is not None and math.isfinite(float(value))


def _bounds(table: Mapping[str, Sequence], column: str, i: int) -> tuple[float, float] | None:
    ci = table.get(column + CI)
    if ci is None or ci[i] is None or not all(_finite(b) for b in ci[i]):
        return None
    return float(ci[i][0]), float(ci[i][1])


def worst_condition_sentence(table: Mapping[str, Sequence]) -> str | None:
    """'Worst condition: jpeg_q75, ROC-AUC 0.612 [0.550, 0.670], 0.088 [0.020, 0.150] below clean.'
    (None when no condition has a ROC-AUC)."""
    rows = [(i, c) for i, c in enumerate(table.get("condition", [])) if _finite(table["roc_auc"][i])]
    if not rows:
        return None
    i, name = min(rows, key=lambda r: float(table["roc_auc"][r[0]]))
    auc = f"{float(table['roc_auc'][i]):.3f} {interval(_bounds(table, 'roc_auc', i), digits=3)}".strip()
    if len(rows) == 1:
        return f"Only the {name} condition was run (ROC-AUC {auc}): no post-processing was judged."
    if name == CLEAN:
        return f"No post-processing condition lowers ROC-AUC below clean ({auc})."
    drop = table.get("roc_auc_drop", [math.nan] * (i + 1))[i]
    below = (f", {float(drop):.3f} {interval(_bounds(table, 'roc_auc_drop', i), digits=3)}".rstrip() + " below clean"
             if _finite(drop) else "")
    return f"Worst condition: {name}, ROC-AUC {auc}{below}."


def control_verdicts(controls: Mapping[str, Sequence]) -> list[str]:
    """One sentence per control present: its share flagged fake beside that of what it is compared with,
    and what the difference says."""
    rows = list(controls.get("rows", []))
    share = dict(zip(rows, controls.get("flagged_fake", []), strict=True))
    out = []
    for i, name in enumerate(rows):
        kind = CONTROLS.get(name)
        if kind is None or not _finite(share[name]):
            continue
        other = share.get(kind.compared_with)
        group = "reals" if kind.compared_with == "real" else kind.compared_with
        head = f"{kind.noun[:1].upper()}{kind.noun[1:]}: {100 * float(share[name]):.1f}% flagged fake"
        if not _finite(other):
            out.append(f"{head} (no {group} to compare with).")
            continue
        head += f" vs {100 * float(other):.1f}% of the {group}"
        bounds = _bounds(controls, "difference", i)
        diff = float(share[name]) - float(other)
        if bounds is None:
            out.append(f"{head} (difference {100 * diff:+.1f} points, no interval): no verdict without intervals.")
            continue
        spread = f"difference {100 * diff:+.1f} points [{100 * bounds[0]:+.1f}, {100 * bounds[1]:+.1f}]"
        if kind.label == 0 and bounds[0] > 0:  # made from reals, flagged more than reals
            verdict = "the detector responds to this processing, not only to edits"
        elif kind.label == 1 and bounds[1] < 0:  # made from edits, flagged less than edits
            verdict = "the detector responds to what this control removes, not only to the edit"
        elif bounds[0] > 0 or bounds[1] < 0:
            verdict = f"clearly {'above' if bounds[0] > 0 else 'below'} the {group}"
        else:
            verdict = f"no clear difference from the {group}"
        out.append(f"{head} ({spread}): {verdict}.")
    return out
