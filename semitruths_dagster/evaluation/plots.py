"""Figures of an evaluation as PNG files (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless workers and CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..metrics.bins import natural_order  # noqa: E402
from ..storage.location import write_atomic  # noqa: E402
from .evaluate import EvaluationResult  # noqa: E402

GROUP_FIGURES = ("dataset", "generator", "method")


def _bars(ax: plt.Axes, table: dict, title: str) -> None:
    idx = natural_order(table["value"])
    values = [table["value"][i] for i in idx]
    recall = np.array([table["recall"][i] for i in idx], dtype=float)
    lo = np.array([table.get("recall_lo", table["recall"])[i] for i in idx], dtype=float)
    hi = np.array([table.get("recall_hi", table["recall"])[i] for i in idx], dtype=float)
    x = np.arange(len(values))
    err = np.vstack([np.nan_to_num(recall - lo), np.nan_to_num(hi - recall)])
    ax.bar(x, np.nan_to_num(recall), yerr=err, capsize=3, color="#4C72B0")
    for xi, n in zip(x, [table["n_fake"][i] for i in idx], strict=True):
        ax.text(xi, 0.02, f"n={n}", ha="center", va="bottom", fontsize=7, rotation=90, color="white")
    ax.set_xticks(x, values, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("fake recall")
    ax.set_title(title, fontsize=9)


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=100))  # never a half-drawn file
    plt.close(fig)
    return path


def make_figures(result: EvaluationResult, out_dir: str | Path, which: str = "default") -> dict[str, Path]:
    """recall by every `*_bin` / localization attribute (one panel each), by dataset, generator and method,
    and the ROC and PR curves; returns {figure name: PNG path}."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tables = result.breakdowns.get(which, {})
    suffix = f"{result.detector} @ {which} threshold {result.thresholds.get(which, float('nan')):.3g}"
    paths: dict[str, Path] = {}
    bins = [n for n in tables if n.endswith("_bin") or n in ("localization", "sem_magnitude")]
    if bins:
        cols = min(3, len(bins))
        rows = -(-len(bins) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=(4 * cols, 3.2 * rows), squeeze=False)
        for ax, name in zip(axes.flat, bins, strict=False):
            _bars(ax, tables[name], name)
        for ax in list(axes.flat)[len(bins) :]:
            ax.axis("off")
        fig.suptitle(f"fake recall by bin: {suffix}", fontsize=10)
        paths["recall_by_bin"] = _save(fig, out / "recall_by_bin.png")
    for name in GROUP_FIGURES:
        if name in tables:
            fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(tables[name]["value"]) + 2), 3.5))
            _bars(ax, tables[name], f"fake recall by {name}: {suffix}")
            paths[f"recall_by_{name}"] = _save(fig, out / f"recall_by_{name}.png")
    roc, pr = result.curves["roc"], result.curves["pr"]
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot(roc["fpr"], roc["tpr"], label=f"AUC {result.ranking['roc_auc']:.3f}")
    ax.plot([0, 1], [0, 1], ls="--", color="grey", lw=0.8)
    ax.set(
        xlabel="false positive rate (reals)",
        ylabel="true positive rate (fakes)",
        title=f"ROC: {result.detector}",
    )
    ax.legend(loc="lower right")
    paths["roc"] = _save(fig, out / "roc.png")
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.step(
        pr["recall"], pr["precision"], where="post", label=f"AP {result.ranking['average_precision']:.3f}"
    )
    ax.set(xlabel="recall (fakes)", ylabel="precision", ylim=(0, 1.02), title=f"PR: {result.detector}")
    ax.legend(loc="lower left")
    paths["pr"] = _save(fig, out / "pr.png")
    return paths


def forest_plot_svg(labels: list[str], values: list[float], lo: list[float], hi: list[float],
                    flagged: list[bool], xlabel: str = "ROC-AUC") -> str:
    """A forest plot (one row per label, top to bottom: the point and its interval) as an inline `<svg>`
    element, text kept as text; flagged rows (random weights) drawn in red. Missing values are left out."""
    n = len(labels)
    fig, ax = plt.subplots(figsize=(8, 0.45 * n + 1.1))
    y = np.arange(n)[::-1]
    for yi, v, a, b, red in zip(y, values, lo, hi, flagged, strict=True):
        colour = "#c00" if red else "#1f4e8c"
        if a is not None and b is not None and np.isfinite([a, b]).all():
            ax.plot([a, b], [yi, yi], color=colour, lw=2)
        if v is not None and np.isfinite(v):
            ax.plot([v], [yi], "s", color=colour, ms=7)
    ax.axvline(0.5, color="grey", ls="--", lw=0.8)
    ax.set_yticks(y, [f"{name} (random weights)" if red else name for name, red in zip(labels, flagged, strict=True)])
    for tick, red in zip(ax.get_yticklabels(), flagged, strict=True):
        tick.set_color("#c00" if red else "#222")
    ax.set(xlim=(-0.02, 1.02), ylim=(-0.7, n - 0.3), xlabel=f"{xlabel} (chance: 0.5)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    buffer = io.StringIO()
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "forest"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg"):]
