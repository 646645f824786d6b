"""A self-contained HTML report for one detector (figures embedded as base64 PNG, no external files).

It reads top-down: a one-screen summary (headline metrics with their intervals, the heatmap of fake
recall by bin level, and, once `robustness.append_to_report` has run, the worst condition and every
control's verdict in one sentence each), then the long tables and the figures folded in `<details>`.
If the detector ran with random weights, the report's first line says so in words (and it is also the
first thing shown on the page), so nobody mistakes stand-in numbers for a real detector's.
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from pathlib import Path

from ..storage.location import write_text
from .evaluate import EvaluationResult
from .formatting import interval, is_count, number, with_interval
from .heatmap import CSS as HEATMAP_CSS
from .heatmap import HeatmapRow, recall_heatmap
from .plots import make_figures

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}table{border-collapse:collapse;"
    "margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:right}"
    "th{background:#eee}.banner{background:#c00;color:#fff;padding:.6em;font-weight:bold;font-size:18px}"
    "img{max-width:100%}.stats{display:flex;gap:2em;margin:.5em 0}.stat b{font-size:26px;display:block}"
    ".stat span{color:#555;font-size:13px}#summary{border:1px solid #ccc;padding:0 1em 1em;border-radius:6px}"
    "details{margin:.6em 0}details>summary{cursor:pointer;font-weight:bold;font-size:16px;padding:.3em 0}"
    ".note{color:#c00;font-size:12px}.small{color:#555;font-size:12px}ul.verdicts li{margin:.2em 0}"
) + HEATMAP_CSS
METRIC_ROWS = (
    "accuracy", "balanced_accuracy", "macro_f1", "fpr",
    "fake_precision", "fake_recall", "fake_f1", "real_precision", "real_recall", "real_f1",
    "tp", "fp", "fn", "tn",
)  # fmt: skip
# The summary's rows at each threshold: (metric key, shown as).
HEADLINE_ROWS = (("balanced_accuracy", "balanced accuracy"), ("fake_recall", "fake recall (TPR)"),
                 ("fpr", "false-positive rate on reals"), ("fake_precision", "fake precision"))
SUMMARY_MARKER = "<!-- verdicts -->"  # robustness.append_to_report puts its sentences here


PROTOCOL_MEANING = {
    "authors": "each detector's own input transform",
    "paper": "the Semi-Truths evaluation code's transform for every detector: Resize 256, CenterCrop 224, "
             "ImageNet mean/std, clamp to [0, 1]",
}


def random_weights_banner(detector: str) -> str:
    """The sentence that opens every report of a random-weight detector."""
    return (
        f"RANDOM WEIGHTS: detector '{detector}' ran with random weights (an offline stand-in), "
        "so every score and figure in this report is meaningless."
    )


def _table(columns: dict[str, list], limit: int | None = None) -> str:
    """Cells are numbers (counts by column name as integers) or text already formatted."""
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    rows = range(n if limit is None else min(n, limit))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(number(columns[c][i], count=is_count(c)))}</td>" for c in names) + "</tr>"
        for i in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _recall_with_interval(table: dict[str, list]) -> dict[str, list]:
    """A breakdown with each recall's interval beside it instead of in two columns of its own."""
    if "recall_lo" not in table:
        return table
    bounds = zip(table["recall_lo"], table["recall_hi"], strict=True)
    recall = [with_interval(v, b) for v, b in zip(table["recall"], bounds, strict=True)]
    return {k: (recall if k == "recall" else v) for k, v in table.items() if k not in ("recall_lo", "recall_hi")}


def _fold(title: str, body: str, open_: bool = False) -> str:
    return f"<details{' open' if open_ else ''}><summary>{html.escape(title)}</summary>\n{body}\n</details>"


def _fpr_interval(iv: dict[str, list]) -> list | None:
    """The reals' false-positive rate is 1 - real recall: its interval follows."""
    lo_hi = iv.get("real_recall")
    return None if not lo_hi or lo_hi[0] is None else [1 - lo_hi[1], 1 - lo_hi[0]]


def _headline(result: EvaluationResult) -> str:
    """The threshold-free pair as large numbers, then a small table at both thresholds."""
    stats = "".join(
        f'<div class="stat"><b>{number(result.ranking[k], digits=3)}</b><span>{label} '
        f"{interval(result.ranking_intervals.get(k), digits=3)}</span></div>"
        for k, label in (("roc_auc", "ROC-AUC"), ("average_precision", "average precision")))
    cols: dict[str, list] = {"metric": [label for _, label in HEADLINE_ROWS]}
    for which, m in result.metrics.items():
        iv = dict(result.intervals.get(which, {}))
        iv["fpr"] = _fpr_interval(iv)
        cols[f"{which} (threshold {number(result.thresholds[which], digits=3)})"] = [
            with_interval(m.get(k, math.nan), iv.get(k), digits=3) for k, _ in HEADLINE_ROWS]
    return f'<div class="stats">{stats}</div>{_table(cols)}'


def _protocol_line(result: EvaluationResult) -> str:
    protocol = result.settings.get("protocol", "authors")  # results written before protocols: the authors'
    meaning = PROTOCOL_MEANING.get(protocol, "mixed: rows scored under several protocols")
    return f"<p>Input protocol (detectors.protocol): {html.escape(protocol)} ({html.escape(meaning)}).</p>"


def _summary(result: EvaluationResult, verdicts: Sequence[str]) -> str:
    level = result.settings.get("level", 0.95)
    lines = [
        '<section id="summary"><h2>Summary</h2>',
        f"<p>{result.n_rows} rows: {result.n_real} real, {result.n_fake} fake. Rule: fake iff P(fake) &gt; "
        f"threshold; calibrated threshold: false-positive rate on reals &le; {result.target_fpr:.0%}. "
        f"Brackets: {level:.0%} intervals ({html.escape(str(result.settings.get('interval_method', 'bootstrap')))}, "
        f"{result.settings.get('n_boot')} resamples, seed {result.settings.get('seed')}; details at the end).</p>",
        _protocol_line(result),
        _headline(result),
    ]
    rows = [HeatmapRow(f"{which} threshold {number(result.thresholds[which], digits=3)}", result.breakdowns[which])
            for which in result.breakdowns]
    heat = recall_heatmap(rows, int(result.settings.get("min_group_count", 20)))
    if heat:
        lines += ["<h3>Fake recall by bin level</h3>", heat]
    items = "".join(f"<li>{html.escape(line)}</li>" for line in verdicts)
    lines += [f'<ul class="verdicts">{items}{SUMMARY_MARKER}</ul>', "</section>"]
    return "\n".join(lines)


def render_html(result: EvaluationResult, figures: dict[str, Path] | None = None, pair_rows: int = 25,
                verdicts: Sequence[str] = ()) -> str:
    """The report as one HTML string: the summary first, the long tables folded below."""
    title = f"Semi-Truths evaluation: {result.detector}"
    banner = random_weights_banner(result.detector) if result.random_weights else ""
    noise = result.settings.get("edits_random_weights") or 0
    if noise:
        banner = (f"{banner} " if banner else "RANDOM WEIGHTS: ") + (
            f"{noise} of {result.n_fake} edited images were made by random-weight generators (the tiny profile): "
            "they are noise, not edits, so no figure here says anything about real edits.")
    first = (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(banner or title, quote=False)}</title>'
        f"</head><body>{f'<p class=banner>{html.escape(banner, quote=False)}</p>' if banner else ''}"
    )
    parts = [first, f"<style>{STYLE}</style>", f"<h1>{html.escape(title)}</h1>", _summary(result, verdicts)]
    which = list(result.metrics)
    cols: dict[str, list] = {"metric": ["threshold", *METRIC_ROWS]}
    for w in which:
        m, iv = result.metrics[w], dict(result.intervals.get(w, {}))
        iv["fpr"] = _fpr_interval(iv)
        cols[w] = [number(result.thresholds[w]), *[number(m.get(k, math.nan), count=is_count(k)) for k in METRIC_ROWS]]
        cols[f"{w} interval"] = ["", *[interval(iv.get(k), count=is_count(k)) for k in METRIC_ROWS]]
    parts.append(_fold("Every metric at both thresholds", _table(cols)))
    if figures:
        imgs = "".join(
            f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" '
            f'src="data:image/png;base64,{base64.b64encode(Path(path).read_bytes()).decode()}">'
            for name, path in figures.items())
        parts.append(_fold("Figures: ROC, precision-recall, fake recall by bin and by group", imgs))
    for w in which:
        tables = "".join(f"<h3>{html.escape(attr)}</h3>{_table(_recall_with_interval(table))}"
                         for attr, table in result.breakdowns.get(w, {}).items())
        parts.append(_fold(f"Fake recall by attribute ({w} threshold {number(result.thresholds[w])})", tables))
        if w in result.pairs:
            n = len(result.pairs[w]["pair"])
            parts.append(_fold(f"Directional edits at the {w} threshold, lowest recall first "
                               f"({min(n, pair_rows)} of {n})", _table(_recall_with_interval(result.pairs[w]),
                                                                      pair_rows)))
    if result.settings.get("intervals"):
        parts.append(f"<p class=small>How the intervals were computed: {html.escape(result.settings['intervals'])}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(
    result: EvaluationResult, path: str | Path, figures_dir: str | Path | None = None, figures: bool = True,
    verdicts: Sequence[str] = (),
) -> Path:
    """Write the report (figures drawn into `figures_dir`, default next to the report, then embedded)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figs = make_figures(result, figures_dir or path.parent / f"{path.stem}_figures") if figures else None
    return write_text(path, render_html(result, figs, verdicts=verdicts))
