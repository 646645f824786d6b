"""A self-contained HTML report for one detector (figures embedded as base64 PNG, no external files).

If the detector ran with random weights, the report's first line says so in words (and it is also the
first thing shown on the page), so nobody mistakes stand-in numbers for a real detector's.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from typing import Any

from .evaluate import EvaluationResult
from .plots import make_figures

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;margin:.5em 0 1.5em}"
    "td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;text-align:right}th{background:#eee}"
    ".banner{background:#c00;color:#fff;padding:.6em;font-weight:bold;font-size:18px}img{max-width:100%}"
)
METRIC_ROWS = (
    "accuracy", "balanced_accuracy", "macro_f1", "fpr",
    "fake_precision", "fake_recall", "fake_f1", "real_precision", "real_recall", "real_f1",
    "tp", "fp", "fn", "tn",
)  # fmt: skip


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


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return (
            "-"
            if not math.isfinite(value)
            else (f"{value:.0f}" if value.is_integer() and abs(value) > 1 else f"{value:.4f}")
        )
    return html.escape(str(value))


def _table(columns: dict[str, list], limit: int | None = None) -> str:
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    rows = range(n if limit is None else min(n, limit))
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(columns[c][i])}</td>" for c in names) + "</tr>" for i in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _ci(iv: dict[str, list[float]], key: str) -> str:
    lo_hi = iv.get(key)
    return "-" if not lo_hi or lo_hi[0] is None else f"[{_fmt(lo_hi[0])}, {_fmt(lo_hi[1])}]"


def render_html(result: EvaluationResult, figures: dict[str, Path] | None = None, pair_rows: int = 25) -> str:
    """The report as one HTML string."""
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
    parts = [first, f"<style>{STYLE}</style>", f"<h1>{html.escape(title)}</h1>"]
    parts.append(
        f"<p>{result.n_rows} rows: {result.n_real} real, {result.n_fake} fake. Rule: fake iff P(fake) &gt; threshold. "
        f"Calibrated threshold: FPR on reals &le; {result.target_fpr:.0%}. Intervals: "
        f"{result.settings.get('level', 0.95):.0%} bootstrap, {result.settings.get('n_boot')} resamples, "
        f"seed {result.settings.get('seed')}.</p>"
    )
    protocol = result.settings.get("protocol", "authors")  # results written before protocols: the authors'
    parts.append(f"<p>Input protocol (detectors.protocol): {html.escape(protocol)} "
                 f"({html.escape(PROTOCOL_MEANING.get(protocol, 'mixed: rows scored under several protocols'))}).</p>")
    if result.settings.get("intervals"):
        parts.append(f"<p>How the intervals were computed: {html.escape(result.settings['intervals'])}</p>")
    rank = {
        "metric": ["ROC-AUC", "average precision"],
        "value": [result.ranking["roc_auc"], result.ranking["average_precision"]],
        "interval": [
            _ci(result.ranking_intervals, "roc_auc"),
            _ci(result.ranking_intervals, "average_precision"),
        ],
    }
    parts += ["<h2>Threshold-free</h2>", _table(rank), "<h2>At both thresholds</h2>"]
    which = list(result.metrics)
    cols: dict[str, list] = {"metric": ["threshold", *METRIC_ROWS]}
    for w in which:
        m, iv = result.metrics[w], result.intervals.get(w, {})
        cols[w] = [result.thresholds[w], *[m.get(k, math.nan) for k in METRIC_ROWS]]
        cols[f"{w} interval"] = ["", *[_ci(iv, k) if k in iv else "" for k in METRIC_ROWS]]
    parts.append(_table(cols))
    for name, path in (figures or {}).items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        parts.append(
            f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">'
        )
    for w in which:
        parts.append(f"<h2>Fake recall by attribute ({w} threshold {_fmt(result.thresholds[w])})</h2>")
        for attr, table in result.breakdowns.get(w, {}).items():
            parts += [f"<h3>{html.escape(attr)}</h3>", _table(table)]
        if w in result.pairs:
            n = len(result.pairs[w]["pair"])
            parts.append(f"<h3>Directional edits, lowest recall first ({min(n, pair_rows)} of {n})</h3>")
            parts.append(_table(result.pairs[w], pair_rows))
    parts.append("</body></html>")
    return "\n".join(parts)


def write_html_report(
    result: EvaluationResult, path: str | Path, figures_dir: str | Path | None = None, figures: bool = True
) -> Path:
    """Write the report (figures drawn into `figures_dir`, default next to the report, then embedded)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figs = make_figures(result, figures_dir or path.parent / f"{path.stem}_figures") if figures else None
    path.write_text(render_html(result, figs), encoding="utf-8")
    return path
