"""The localization section of a detector's report (HTML), and its leaderboard columns.

`section_html` returns the section as one HTML string (tables, the F1-against-area-ratio curve and a
seeded gallery of original / edit / truth / map), which the stage appends to the detector's report; a
random-weight detector's section says so first.
"""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from PIL import Image

from ..storage import ImageStore
from .storage import load_levels
from .truth import load_truth

THUMB = 128
METRIC_NAMES = {"f1": "F1 @t", "iou": "IoU @t", "mcc": "MCC @t", "f1_best": "F1 best/image",
                "iou_best": "IoU best/image", "mcc_best": "MCC best/image", "auroc": "pixel AUROC"}


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else html.escape(str(value))


def _table(columns: dict[str, list]) -> str:
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(columns[c][i])}</td>" for c in names) + "</tr>" for i in range(n))
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(image: Image.Image) -> str:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _img(image: Image.Image, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{_png(image)}">'


def headline_table(result: dict) -> str:
    cols: dict[str, list] = {"truth": [], "n": [], "empty truth": []}
    for label in METRIC_NAMES.values():
        cols[label] = []
        cols[f"{label} 95% CI"] = []
    cols["pooled pixel AUROC"] = []
    for kind, entry in result["truths"].items():
        cols["truth"].append(kind)
        cols["n"].append(entry["n"])
        cols["empty truth"].append(entry["n_empty_truth"])
        for key, label in METRIC_NAMES.items():
            m = entry["metrics"][key]
            cols[label].append(m["mean"])
            cols[f"{label} 95% CI"].append("-" if m["lo"] is None else f"[{m['lo']:.3f}, {m['hi']:.3f}]")
        cols["pooled pixel AUROC"].append(entry["pooled_auroc"])
    return _table(cols)


def area_figure(curve: dict[str, dict[str, list]]) -> str:
    """F1 against the truth's area ratio, one line per truth (a base64 PNG <img>), '' when empty."""
    if not curve:
        return ""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.2), dpi=90)
    for kind, rows in curve.items():
        mid = [(lo + hi) / 2 for lo, hi in zip(rows["area_lo"], rows["area_hi"], strict=True)]
        ax.plot(mid, rows["f1"], marker="o", label=f"{kind}: F1 @t")
        ax.plot(mid, rows["f1_best"], marker="x", linestyle="--", label=f"{kind}: F1 best/image")
    ax.set_xlabel("edited area / image area (truth)")
    ax.set_ylabel("mean F1")
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return f'<img alt="F1 against area ratio" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}">'


def gallery(examples: pl.DataFrame, originals: dict[str, str], truths: dict[str, dict], store: ImageStore,
            count: int, seed: int) -> str:
    """`count` clean edits drawn with `seed`: original, edit, each truth mask and the map, side by side."""
    edits = examples.filter((pl.col("label") == 1) & pl.col("control").is_null() & (pl.col("condition") == "clean"))
    edits = edits.unique("row_key").sort("row_key")
    if edits.is_empty() or count <= 0:
        return ""
    pick = np.sort(np.random.default_rng(seed).choice(edits.height, size=min(count, edits.height), replace=False))
    rows = []
    for r in edits[pick.tolist()].iter_rows(named=True):
        levels = load_levels(store, r["map_path"])
        cells = []
        if r["image_id"] in originals:
            cells.append(("original", store.open(originals[r["image_id"]]).convert("RGB")))
        cells.append(("edit", store.open(r["image_path"]).convert("RGB")))
        for kind, path in truths.get(r["generation_id"], {}).items():
            if path:
                cells.append((kind, Image.fromarray(load_truth(store, path, levels.shape).astype(np.uint8) * 255)))
        cells.append(("map", Image.fromarray(levels, mode="L")))
        shown = []
        for label, image in cells:
            image = image.copy()
            image.thumbnail((THUMB, THUMB), Image.NEAREST if label != "edit" and label != "original" else Image.BICUBIC)
            shown.append(f"<figure style='display:inline-block;margin:2px'>{_img(image, label)}"
                         f"<figcaption>{html.escape(label)}</figcaption></figure>")
        rows.append(f"<div><p>{html.escape(str(r['generation_id']))}</p>{''.join(shown)}</div>")
    return "".join(rows)


def section_html(detector: str, random_weights: bool, result: dict, threshold: float, map_source: Sequence[str],
                 gallery_html: str = "") -> str:
    """The localization section of one detector's report."""
    parts = ["<h2>Localization: where is the edit?</h2>"]
    if random_weights:
        parts.append(f"<p class=banner>RANDOM WEIGHTS: detector '{html.escape(detector)}' ran with random weights; "
                     "its maps are noise and every localization figure below is meaningless.</p>")
    parts.append(
        f"<p>Maps: {html.escape(', '.join(map_source) or '-')} ({result['n_maps']} maps, {result['n_edits']} edits, "
        f"{result['n_reals']} real images, clean condition). Ground truth: inpainting edits are scored against the "
        "request's mask and against the post-edit mask of Algorithm 2, side by side; prompt-based and instruction "
        f"edits against the post-edit mask only. Fixed threshold t = {threshold:g} (a pixel is flagged iff its map "
        "value &gt; t); 'best/image' maximises each metric over every threshold of each image separately (an upper "
        "bound, as IMDLBenCo reports it). Averages are per image; intervals: cluster bootstrap by source image.</p>")
    if result["truths"]:
        parts += ["<h3>Pixel-level metrics (edits)</h3>", headline_table(result)]
    fa = result["false_alarm"]
    parts.append(
        "<h3>Real images: false-alarm area</h3>" + _table({
            "mean flagged share @t": [fa["mean"]], "95% CI": ["-" if fa["lo"] is None else f"[{fa['lo']:.3f}, {fa['hi']:.3f}]"],
            "reals with any flagged pixel": [fa["any_flagged"]], "n": [fa["n"]]}))
    parts.append("<h3>Image level</h3>" + _table({
        "AUROC from the map's maximum": [result["image_auroc_map_max"]],
        "AUROC from the plugin's own score": [result["image_auroc_own_score"]]}))
    figure = area_figure(result["area_curve"])
    if figure:
        parts += ["<h3>F1 against the edit's area ratio</h3>", figure]
    for kind, tables in result["breakdowns"].items():
        for column, table in tables.items():
            if table["value"]:
                parts += [f"<h4>{html.escape(kind)} by {html.escape(column)}</h4>", _table(table)]
    if result["by_condition"]:
        parts += ["<h3>By condition</h3>", _table(result["by_condition"])]
    if result["by_control"]:
        parts += ["<h3>Confound controls</h3>", _table(result["by_control"])]
    if gallery_html:
        parts += ["<h3>Examples (seeded)</h3>", gallery_html]
    return "\n".join(parts)
