"""The leaderboard across detectors: one row each, headline metrics at the default and calibrated thresholds."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from pathlib import Path

from .evaluate import EvaluationResult

# The leaderboard is small (one row per detector): plain lists.
Table = dict[str, list]
HEADLINE = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "fake_f1")


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
        "average_precision": [],
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
        cols["roc_auc"].append(r.ranking["roc_auc"])
        cols["average_precision"].append(r.ranking["average_precision"])
        for which in ("default", "calibrated"):
            m = r.metrics.get(which, {})
            cols[f"{which}_threshold"].append(r.thresholds.get(which, math.nan))
            for k in HEADLINE:
                cols[f"{which}_{k}"].append(m.get(k, math.nan))
    return cols


def _cell(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def leaderboard_markdown(table: Table) -> str:
    """A Markdown table of the leaderboard."""
    names = list(table)
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    for i in range(len(table["detector"])):
        lines.append("| " + " | ".join(_cell(table[c][i]) for c in names) + " |")
    return "\n".join(lines)


def write_leaderboard_html(table: Table, path: str | Path) -> Path:
    """A standalone HTML page of the leaderboard; says so first if any detector had random weights."""
    path = Path(path)
    names = list(table)
    warn = any(table["random_weights"])
    first = (
        "RANDOM WEIGHTS: some detectors below ran with random weights; their rows are meaningless."
        if warn
        else ""
    )
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    rows = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(table[c][i]))}</td>" for c in names) + "</tr>"
        for i in range(len(table["detector"]))
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{first or "Leaderboard"}</title></head><body>'
        f"{f'<p><b>{first}</b></p>' if first else ''}\n<h1>Semi-Truths leaderboard</h1>"
        f"<table border=1><tr>{head}</tr>{rows}</table></body></html>\n",
        encoding="utf-8",
    )
    return path
