"""The recall heatmap: fake recall per row (a detector, or a threshold of one) x bin level, as an HTML
table coloured cell by cell, so the weak spots are seen at a glance and every number stays text.

Columns are grouped by what changes (`HEATMAP_GROUPS`: area, magnitude, localization, method,
generator); levels in their natural order (`metrics.bins.level_key`). A cell's tooltip has the recall
with its Wilson interval and the counts; groups with fewer edits than `min_group_count` are shown
in grey italics (reported, not ranked, as in the report's tables).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..metrics.bins import level_key
from .formatting import interval

# (column group shown, breakdown attributes that can stand for it: the first one present is used).
HEATMAP_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("area", ("area_ratio_bin", "area_ratio_bin5", "post_edit_ratio_bin", "post_edit_ratio_bin5")),
    ("magnitude", ("magnitude",)),
    ("localization", ("localization",)),
    ("method", ("method",)),
    ("generator", ("generator",)),
)
CSS = (
    "table.heatmap td{text-align:center;min-width:3.2em;color:#111}table.heatmap td.few{color:#555;"
    "font-style:italic}table.heatmap td.none{background:#f4f4f4;color:#999}table.heatmap th.group{"
    "text-align:center;background:#ddd}table.heatmap th.row{text-align:left}"
    ".scale{display:inline-block;width:12em;height:.8em;vertical-align:middle;background:linear-gradient("
    "to right,hsl(0,70%,72%),hsl(60,70%,72%),hsl(120,70%,72%))}"
)


@dataclass(frozen=True)
class HeatmapRow:
    """One row: its label (HTML-escaped here), an optional link, and the breakdown tables
    (`EvaluationResult.breakdowns[which]`: attribute -> {value, n_fake, detected, recall, ...})."""

    label: str
    breakdowns: Mapping[str, Mapping[str, Any]]
    href: str | None = None
    note: str = ""  # shown after the label (e.g. 'random weights')


def colour(recall: float) -> str:
    """Red (0) through yellow to green (1)."""
    return f"hsl({120 * min(max(recall, 0.0), 1.0):.0f},70%,72%)"


def columns(rows: Sequence[HeatmapRow], groups=HEATMAP_GROUPS) -> list[tuple[str, str, list[str]]]:
    """(group, attribute, levels in natural order) for every group some row has edits in."""
    out = []
    for group, candidates in groups:
        attr = next((a for a in candidates if any(_levels(r.breakdowns.get(a)) for r in rows)), None)
        if attr is None:
            continue
        levels = sorted({v for r in rows for v in _levels(r.breakdowns.get(attr))}, key=level_key)
        out.append((group, attr, levels))
    return out


def _levels(table: Mapping[str, Any] | None) -> list[str]:
    if not table:
        return []
    return [str(v) for v, n in zip(table["value"], table["n_fake"], strict=True) if n]


def _cell(table: Mapping[str, Any] | None, level: str, attr: str, min_count: int) -> str:
    values = [str(v) for v in table["value"]] if table else []
    if level not in values:
        return '<td class="none">-</td>'
    i = values.index(level)
    n, hit, recall = int(table["n_fake"][i]), int(table["detected"][i]), table["recall"][i]
    if not n or recall is None or not math.isfinite(float(recall)):
        return '<td class="none">-</td>'
    recall = float(recall)
    bounds = (table["recall_lo"][i], table["recall_hi"][i]) if "recall_lo" in table else None
    tip = f"{attr} = {level}: recall {recall:.3f} {interval(bounds, digits=3)} ({hit} of {n} edits detected)"
    few = ' class="few"' if n < min_count else ""
    return (f'<td{few} style="background:{colour(recall)}" title="{html.escape(tip)}" data-recall="{recall:.6f}" '
            f'data-n="{n}">{100 * recall:.0f}%</td>')


def recall_heatmap(rows: Sequence[HeatmapRow], min_group_count: int = 20, caption: str = "",
                   groups=HEATMAP_GROUPS) -> str:
    """The heatmap as an HTML table (empty string when no row has any binned edit)."""
    cols = columns(rows, groups)
    if not cols:
        return ""
    top = "".join(f'<th class="group" colspan="{len(levels)}">{html.escape(group)}</th>' for group, _, levels in cols)
    sub = "".join(f'<th data-attribute="{html.escape(attr)}">{html.escape(level)}</th>'
                  for _, attr, levels in cols for level in levels)
    body = []
    for row in rows:
        name = html.escape(row.label)
        if row.href:
            name = f'<a href="{html.escape(row.href)}">{name}</a>'
        if row.note:
            name += f' <span class="note">{html.escape(row.note)}</span>'
        cells = "".join(_cell(row.breakdowns.get(attr), level, attr, min_group_count)
                        for _, attr, levels in cols for level in levels)
        body.append(f'<tr><th class="row">{name}</th>{cells}</tr>')
    legend = (f'<p class="legend">Fake recall: 0% <span class="scale"></span> 100%. Grey italics: fewer than '
              f"{min_group_count} edited images (shown, not ranked); '-': no edit at that level. Hover a cell "
              "for its interval and counts.</p>")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    return (f'<table class="heatmap">{cap}<tr><th rowspan="2"></th>{top}</tr><tr>{sub}</tr>{"".join(body)}</table>'
            f"{legend}")
