"""The leaderboard page: one self-contained HTML file (inline CSS, a few lines of inline JavaScript,
the forest plot as inline SVG; nothing fetched from the network).

Top to bottom: the random-weights warning in red (also the page's first line), the sortable table
(click a header; intervals beside their values; each detector links to its report), the forest plot
of ROC-AUC with intervals, the heatmap of fake recall per detector x bin level at the calibrated
threshold, then every stored column and what each column means, folded.
"""

from __future__ import annotations

import html
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from .columns import FLAG, TEXT, Column, Table, cell_text
from .evaluate import EvaluationResult
from .formatting import is_count, number
from .heatmap import CSS as HEATMAP_CSS
from .heatmap import HeatmapRow, recall_heatmap
from .plots import forest_plot_svg

RED = "#c00"
STYLE = (
    "body{font-family:sans-serif;margin:1.5em auto;max-width:1200px;padding:0 1em;color:#222}"
    f".banner{{background:{RED};color:#fff;padding:.6em;font-weight:bold;font-size:18px}}"
    ".wrap{overflow-x:auto}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:3px 7px;font-size:13px;text-align:right;white-space:nowrap}"
    "th{background:#eee}table.sortable th{cursor:pointer;user-select:none}table.sortable th:hover{background:#dde}"
    "th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}"
    "td.text{text-align:left}.ci{color:#666;font-size:11px;display:block}thead th{white-space:normal;max-width:7em;vertical-align:bottom}.rw{color:#c00;font-weight:bold}"
    ".note{color:#c00;font-size:11px}tr.random td{background:#fff4f4}details{margin:.8em 0}"
    "details>summary{cursor:pointer;font-weight:bold}dt{font-weight:bold;margin-top:.4em}dd{margin-left:1.5em}"
    "figure{margin:0}svg{max-width:100%;height:auto}.small{color:#555;font-size:12px}"
) + HEATMAP_CSS
# Click a header: numbers sort best (largest) first, text A-Z; a second click reverses. Missing last.
SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  var heads = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(heads, function (th, col) {
    th.addEventListener("click", function () {
      var numeric = th.dataset.kind !== "text" && th.dataset.kind !== "flag";
      var desc = th.getAttribute("aria-sort") ? th.getAttribute("aria-sort") === "ascending" : numeric;
      var rows = Array.prototype.slice.call(table.tBodies[0].rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort, y = b.cells[col].dataset.sort;
        if (x === "" || y === "") { return (x === "") - (y === ""); }
        var c = numeric ? parseFloat(x) - parseFloat(y) : x.localeCompare(y);
        return desc ? -c : c;
      });
      rows.forEach(function (r) { table.tBodies[0].appendChild(r); });
      Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", desc ? "descending" : "ascending");
    });
  });
});
"""


def _warnings(table: Table) -> list[str]:
    """The red lines at the top: random-weight detectors, and edits made by random-weight generators."""
    out = []
    rw = [d for d, r in zip(table["detector"], table["random_weights"], strict=True) if r]
    if rw:
        out.append(f"RANDOM WEIGHTS: {len(rw)} of {len(table['detector'])} detectors ran with random weights "
                   f"({', '.join(rw)}); their rows, plot points and heatmap cells are meaningless.")
    noise = max((int(n or 0) for n in table.get("edits_random_weights", [])), default=0)
    if noise:
        out.append(f"RANDOM WEIGHTS: {noise} edited images were made by random-weight generators (the tiny "
                   "profile): they are noise, not edits, so no number here says anything about real edits.")
    return out


def _sort_key(table: Table, column: Column, i: int) -> str:
    value = table.get(column.key, [None] * (i + 1))[i]
    if column.kind == FLAG:
        return "1" if value else "0"
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    return str(value) if column.kind == TEXT else repr(float(value))


def _cell(table: Table, column: Column, i: int, href: str | None) -> str:
    text = cell_text(table, column, i)
    value, _, ci = text.partition(" [")
    shown = html.escape(value) + (f' <span class="ci">[{html.escape(ci)}</span>' if ci else "")
    if column.key == "detector" and href:
        shown = f'<a href="{html.escape(href)}">{shown}</a>'
    if column.kind == FLAG and table[column.key][i]:
        shown = f'<span class="rw">{shown}</span>'
    cls = ' class="text"' if column.kind == TEXT else ""
    return f'<td{cls} data-sort="{html.escape(_sort_key(table, column, i))}">{shown}</td>'


def _href(report: str | Path | None, base: Path) -> str | None:
    """A link relative to the page's folder, so the pages move together (a bucket, another host)."""
    if report is None:
        return None
    return quote(Path(os.path.relpath(Path(report).resolve(), base.resolve())).as_posix())


def _main_table(table: Table, columns: Sequence[Column], links: Mapping[str, str | None]) -> str:
    cols = [c for c in columns if c.key in table]
    head = "".join(f'<th data-key="{c.key}" data-kind="{c.kind}" title="{html.escape(c.doc)}">'
                   f"{html.escape(c.title)}</th>" for c in cols)
    rows = []
    for i, name in enumerate(table["detector"]):
        cls = ' class="random"' if table["random_weights"][i] else ""
        cells = "".join(_cell(table, c, i, links.get(name)) for c in cols)
        rows.append(f"<tr{cls}>{cells}</tr>")
    return (f'<div class="wrap"><table class="sortable" id="leaderboard"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")


def _forest(table: Table) -> str:
    if not table["detector"]:
        return ""
    svg = forest_plot_svg(list(table["detector"]), list(table["roc_auc"]), list(table.get("roc_auc_lo", [])) or
                          [None] * len(table["detector"]), list(table.get("roc_auc_hi", [])) or
                          [None] * len(table["detector"]), [bool(r) for r in table["random_weights"]])
    return (f'<h2>ROC-AUC with intervals</h2><figure id="forest">{svg}<figcaption class="small">Squares: ROC-AUC; '
            "lines: its interval; dashed: chance. Red: random weights.</figcaption></figure>")


def _heatmap(table: Table, results: Sequence[EvaluationResult], links: Mapping[str, str | None]) -> str:
    by_name = {r.detector: r for r in results}
    rows = []
    for name, rw in zip(table["detector"], table["random_weights"], strict=True):
        r = by_name.get(name)
        if r is None:
            continue
        which = "calibrated" if "calibrated" in r.breakdowns else "default"
        rows.append(HeatmapRow(name, r.breakdowns.get(which, {}), links.get(name), "random weights" if rw else ""))
    min_count = min((int(r.settings.get("min_group_count", 20)) for r in results), default=20)
    heat = recall_heatmap(rows, min_count)
    return (f'<h2>Fake recall by bin level, at each detector\'s calibrated threshold</h2><div class="wrap" '
            f'id="heatmap">{heat}</div>') if heat else ""


def _every_column(table: Table) -> str:
    names = list(table)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(number(table[c][i], count=is_count(c)))}</td>"
                                    for c in names) + "</tr>" for i in range(len(table["detector"])))
    return (f'<details><summary>Every stored column (both thresholds)</summary><div class="wrap"><table>'
            f"<tr>{head}</tr>{body}</table></div></details>")


def _column_notes(columns: Sequence[Column]) -> str:
    items = "".join(f"<dt>{html.escape(c.title)}</dt><dd>{html.escape(c.doc)}"
                    f"{' (with its interval)' if c.interval else ''}</dd>" for c in columns)
    return f"<details><summary>What the columns mean</summary><dl>{items}</dl></details>"


def render_page(table: Table, base: Path, results: Sequence[EvaluationResult],
                reports: Mapping[str, str | Path], columns: Sequence[Column]) -> str:
    """The page as one HTML string; `base` is the page's folder (links to the reports are relative to it)."""
    warnings = _warnings(table)
    title = warnings[0] if warnings else "Semi-Truths leaderboard"
    links = {name: _href(reports.get(name), base) for name in table["detector"]}
    banner = "".join(f'<p class="banner" style="background:{RED};color:#fff">{html.escape(w)}</p>' for w in warnings)
    target = {float(t) for t in table.get("target_fpr", []) if t is not None}
    calibrated = (f"the calibrated threshold (false-positive rate on reals &le; "
                  f"{', '.join(f'{t:.0%}' for t in sorted(target))})") if target else "the calibrated threshold"
    n = len(table["detector"])
    intro = (f"<p>{n} detector{'s' * (n != 1)}, best ROC-AUC first. Threshold metrics at {calibrated}; "
             "brackets: 95% cluster-bootstrap intervals by source image (recalls: Wilson). Click a column "
             "header to sort; hover it for what it means; a detector's name opens its report.</p>")
    parts = [
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"</head><body>{banner}",
        f"<style>{STYLE}</style>",
        "<h1>Semi-Truths leaderboard</h1>", intro,
        _main_table(table, columns, links),
        _forest(table),
        _heatmap(table, results, links),
        _every_column(table),
        _column_notes([c for c in columns if c.key in table]),
        f"<script>{SORT_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"
