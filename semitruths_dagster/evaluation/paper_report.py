"""The paper comparison as text (the command's output, first line first) and as one HTML page."""

from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Any

from ..storage.location import write_text
from .paper import Comparison

SECTIONS = (  # (title, attribute of Comparison, columns shown)
    ("Table 3: precision and recall per class (%, at each detector's default threshold)", "table3",
     ("detector", "column", "paper", "run", "difference", "lo", "hi", "inside")),
    ("Table 4: directional semantic edits (recall %, count of edited images)", "table4",
     ("detector", "rank", "case", "pair", "paper_count", "run_count", "paper", "run", "difference", "lo", "hi",
      "inside", "run_rank")),
    ("Figures 5-7: values given in the text (percentage points; approximate where the text rounds)", "figures",
     ("figure", "detector", "column", "paper", "run", "difference", "lo", "hi", "inside")),
    ("Figures 5-7: orderings stated in the text", "claims", ("figure", "detector", "claim", "verdict", "run")),
)
HEADERS = {"run": "this run", "lo": "95% lo", "hi": "95% hi", "inside": "paper in interval",
           "run_rank": "this run's rank", "paper_count": "paper count", "run_count": "this run's count"}


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else f"{value:.2f}"
    return str(value)


def _intro(comparison: Comparison) -> list[str]:
    protocols = ", ".join(f"{d}: {p}" for d, p in sorted(comparison.protocols.items())) or "-"
    return [f"Input protocol of this run's detectors (detectors.protocol): {protocols}; the paper's values: "
            f"{comparison.paper_protocol} (Resize 256, CenterCrop 224, ImageNet mean/std, clamp to [0, 1])."]


def render_text(comparison: Comparison) -> str:
    """Plain text, tab-separated tables; the first line says whether anything can be compared."""
    lines = [comparison.first_line, *_intro(comparison)]
    for title, attr, columns in SECTIONS:
        rows = getattr(comparison, attr)
        lines += ["", title, "\t".join(HEADERS.get(c, c) for c in columns)]
        lines += ["\t".join(_cell(r.get(c)) for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def render_html(comparison: Comparison) -> str:
    """One self-contained page; its title and first paragraph are the first line."""
    esc = html.escape
    parts = [f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{esc(comparison.first_line)}</title>'
             "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px}.outside,.differs{background:#fdd}.inside,.agrees{background:#dfd}"
             ".banner{background:#fee;padding:.5em;font-weight:bold}</style></head><body>",
             f"<p class={'summary' if comparison.comparable else 'banner'}>{esc(comparison.first_line)}</p>",
             "<h1>Semi-Truths: this run beside the paper</h1>", *(f"<p>{esc(p)}</p>" for p in _intro(comparison))]
    for title, attr, columns in SECTIONS:
        head = "".join(f"<th>{esc(HEADERS.get(c, c))}</th>" for c in columns)
        body = "".join(
            "<tr>" + "".join(f"<td class={esc(str(r.get(c, '')))}>{esc(_cell(r.get(c)))}</td>"
                             if c in ("inside", "verdict") else f"<td>{esc(_cell(r.get(c)))}</td>" for c in columns)
            + "</tr>" for r in getattr(comparison, attr))
        parts += [f"<h2>{esc(title)}</h2>", f"<table><tr>{head}</tr>{body}</table>"]
    parts.append("</body></html>")
    return "\n".join(parts)


def write_comparison(comparison: Comparison, out_dir: str | Path) -> tuple[Path, Path]:
    """`paper_comparison.html` and `.txt` in `out_dir` (the reports folder)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    page, text = out / "paper_comparison.html", out / "paper_comparison.txt"
    write_text(page, render_html(comparison))
    write_text(text, render_text(comparison))
    return page, text
