"""Robustness and controls: does a detector see the edit, or the pipeline and the post-processing?

- robustness table: one row per post-processing condition, the decision-rule metrics and their drop
  from `clean`; every condition is judged at the threshold calibrated on the clean reals (the
  operating point a deployed detector would have);
- controls table: edits vs pasted-back vs VAE round trip vs format-matched, at the clean condition and
  the same threshold, each row with what the comparison means;
- figures (matplotlib): reliability diagram, response curves, robustness bars.
Rows of the predictions: `label`, `score`, `condition` (absent: clean), `control` (absent/null: the
real images and the edits themselves).
"""

from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from ..conditions import CLEAN  # noqa: E402
from .decision import decision_metrics, reliability  # noqa: E402
from .response import response_curve  # noqa: E402
from .thresholds import threshold_at_fpr  # noqa: E402

ROBUSTNESS_COLUMNS = ("roc_auc", "average_precision", "tpr_at_1fpr", "tpr_at_5fpr", "eer",
                      "balanced_accuracy_default", "balanced_accuracy_calibrated", "fake_recall_calibrated",
                      "real_fpr_calibrated", "ece", "brier", "nll")
DROP_COLUMNS = ("roc_auc", "tpr_at_5fpr", "balanced_accuracy_calibrated", "fake_recall_calibrated")
CONTROL_MEANING = {
    "edits": "the edited images themselves: the recall every control is compared with",
    "pasted_back": "edits with the original pixels restored outside the mask: a recall far below the edits' "
                   "means the detector responds to the VAE traces outside the edit, not to the edit",
    "format_matched": "edits saved in their original's format and JPEG quality: a recall far below the edits' "
                      "means the detector tells PNG edits from JPEG reals by the file format",
    "vae_roundtrip": "real images encoded and decoded by a generator's VAE, no edit: the share flagged is the "
                     "false-positive rate for 'touched by the pipeline'; near the edits' recall means the "
                     "detector sees the VAE, not the edit",
    "real": "the real images: the false-positive rate the threshold was calibrated to",
}
ROBUSTNESS_DIR = "robustness"  # beside a detector's result.json: robustness.json and the figures
RESPONSE_METRICS = ("area_ratio", "post_edit_ratio", "lpips", "dreamsim", "sentence_similarity")


def _with_defaults(frame: pl.DataFrame) -> pl.DataFrame:
    if "condition" not in frame.columns:
        frame = frame.with_columns(pl.lit(CLEAN).alias("condition"))
    if "control" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Utf8).alias("control"))
    return frame


def clean_threshold(frame: pl.DataFrame, target_fpr: float) -> float:
    """The calibrated threshold, fitted on the clean condition's real images (no controls)."""
    base = _with_defaults(frame).filter((pl.col("condition") == CLEAN) & pl.col("control").is_null())
    return threshold_at_fpr(base["label"].to_numpy(), base["score"].to_numpy(), target_fpr)


def robustness_table(frame: pl.DataFrame, default_threshold: float, target_fpr: float) -> dict[str, list]:
    """Rows: conditions (clean first); columns: the decision metrics and the drop from clean."""
    frame = _with_defaults(frame).filter(pl.col("control").is_null())
    calibrated = clean_threshold(frame, target_fpr)
    names = [CLEAN, *sorted(set(frame["condition"].unique().to_list()) - {CLEAN})]
    rows = []
    for name in names:
        part = frame.filter(pl.col("condition") == name)
        if not part.height:
            continue
        m = decision_metrics(part["label"].to_numpy(), part["score"].to_numpy(), default_threshold, calibrated)
        rows.append({"condition": name, "n": m["n"], **{k: m[k] for k in ROBUSTNESS_COLUMNS}})
    clean = next((r for r in rows if r["condition"] == CLEAN), None)
    for r in rows:
        for k in DROP_COLUMNS:
            r[f"{k}_drop"] = (clean[k] - r[k]) if clean else math.nan
    return {k: [r[k] for r in rows] for k in (rows[0] if rows else {"condition": None})} if rows else {}


def by_bin_table(attributes: pl.DataFrame, default_threshold: float, threshold: float,
                 columns: tuple[str, ...] = ("area_ratio_bin", "post_edit_ratio_bin", "lpips_bin", "magnitude",
                                             "localization")) -> dict[str, list]:
    """Decision metrics of each bin's edits against every real image, at the clean calibrated threshold
    (clean condition, no controls)."""
    reals = attributes.filter(pl.col("label") == 0)
    rows = []
    for column in (c for c in columns if c in attributes.columns):
        edits = attributes.filter((pl.col("label") == 1) & pl.col(column).is_not_null())
        for value in sorted(edits[column].unique().to_list()):
            part = pl.concat([reals.select("label", "score"),
                              edits.filter(pl.col(column) == value).select("label", "score")])
            m = decision_metrics(part["label"].to_numpy(), part["score"].to_numpy(), default_threshold, threshold)
            rows.append({"attribute": column, "bin": str(value), "n_fake": m["n_fake"],
                         **{k: m[k] for k in ("roc_auc", "average_precision", "tpr_at_5fpr", "eer",
                                              "fake_recall_calibrated", "balanced_accuracy_calibrated")}})
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


def worst_condition(table: dict[str, list], metric: str = "roc_auc") -> tuple[str | None, float]:
    """The condition with the lowest `metric` (NaN rows skipped)."""
    pairs = [(c, v) for c, v in zip(table.get("condition", []), table.get(metric, []), strict=True)
             if v is not None and not math.isnan(v)]
    return min(pairs, key=lambda p: p[1]) if pairs else (None, math.nan)


def controls_table(frame: pl.DataFrame, target_fpr: float) -> dict[str, list]:
    """At the clean condition and the clean calibrated threshold: share flagged fake and AUROC against
    the real images, for the edits and every control present, with what each comparison means."""
    frame = _with_defaults(frame).filter(pl.col("condition") == CLEAN)
    threshold = clean_threshold(frame, target_fpr)
    plain = frame.filter(pl.col("control").is_null())
    real = plain.filter(pl.col("label") == 0)["score"].to_numpy()
    groups = {"real": real, "edits": plain.filter(pl.col("label") == 1)["score"].to_numpy()}
    for control in sorted(frame["control"].drop_nulls().unique().to_list()):
        groups[control] = frame.filter(pl.col("control") == control)["score"].to_numpy()
    out: dict[str, list] = {"rows": [], "n": [], "flagged_fake": [], "auroc_vs_real": [], "meaning": []}
    for name, scores in groups.items():
        out["rows"].append(name)
        out["n"].append(float(scores.size))
        out["flagged_fake"].append(float(np.mean(scores > threshold)) if scores.size else math.nan)
        auroc = math.nan
        if name != "real" and scores.size and real.size:
            y = np.r_[np.zeros(real.size), np.ones(scores.size)]
            auroc = decision_metrics(y, np.r_[real, scores], threshold, threshold)["roc_auc"]
        out["auroc_vs_real"].append(auroc)
        out["meaning"].append(CONTROL_MEANING.get(name, ""))
    out["threshold"] = [threshold] * len(out["rows"])
    return out


def response_curves(frame: pl.DataFrame, threshold: float, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """One curve per change metric present (clean condition, edits only), for metrics with >= 3 values."""
    frame = _with_defaults(frame).filter((pl.col("condition") == CLEAN) & pl.col("control").is_null())
    fakes, real = frame.filter(pl.col("label") == 1), frame.filter(pl.col("label") == 0)["score"].to_numpy()
    curves = {}
    for metric in RESPONSE_METRICS:
        if metric in fakes.columns and fakes[metric].drop_nulls().drop_nans().len() >= 3:
            x = fakes[metric].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            curves[metric] = response_curve(x, fakes["score"].to_numpy(), real, threshold, n_boot=n_boot, seed=seed)
    return curves


def draw_figures(frame: pl.DataFrame, table: dict[str, list], curves: dict[str, dict], out_dir: Path,
                 random_weights: bool) -> dict[str, Path]:
    """Reliability diagram, robustness bars and response curves as PNG files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    suffix = " (RANDOM WEIGHTS: noise)" if random_weights else ""
    figures: dict[str, Path] = {}
    base = _with_defaults(frame).filter((pl.col("condition") == CLEAN) & pl.col("control").is_null())
    if base.height:
        rel = reliability(base["label"].to_numpy(), base["score"].to_numpy())
        fig, ax = plt.subplots(figsize=(4.5, 4))
        centers = (rel["edges"][:-1] + rel["edges"][1:]) / 2
        ax.plot([0, 1], [0, 1], "--", color="grey", lw=1)
        ax.bar(centers, np.nan_to_num(rel["fake_share"]), width=1 / len(centers), alpha=0.6, edgecolor="k")
        ax.set(xlabel="mean P(fake) in bin", ylabel="share of fakes", xlim=(0, 1), ylim=(0, 1),
               title=f"Reliability (15 bins){suffix}")
        figures["reliability"] = _save(fig, out_dir / "reliability.png")
    if table:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        x = np.arange(len(table["condition"]))
        ax.bar(x - 0.2, np.nan_to_num(table["roc_auc"]), 0.4, label="ROC-AUC")
        ax.bar(x + 0.2, np.nan_to_num(table["fake_recall_calibrated"]), 0.4, label="recall @ calibrated")
        ax.set_xticks(x, table["condition"], rotation=30, ha="right", fontsize=8)
        ax.set(ylim=(0, 1), title=f"Robustness to post-processing{suffix}")
        ax.legend(fontsize=7)
        figures["robustness"] = _save(fig, out_dir / "robustness.png")
    for metric, curve in curves.items():
        fig, ax = plt.subplots(figsize=(5, 3.5))
        for key, colour in (("recall", "#4C72B0"), ("auroc", "#DD8452")):
            ax.plot(curve["x"], curve[key], color=colour, label=key)
            ax.fill_between(curve["x"], curve[f"{key}_low"], curve[f"{key}_high"], color=colour, alpha=0.2)
        ax.axhline(curve["level"], color="grey", lw=0.8, ls=":")
        ax.set(xlabel=metric, ylim=(0, 1), title=f"Response to {metric}{suffix}")
        ax.legend(fontsize=7)
        figures[f"response_{metric}"] = _save(fig, out_dir / f"response_{metric}.png")
    return figures


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "-" if not math.isfinite(value) else (f"{value:.0f}" if value.is_integer() and abs(value) > 1
                                                     else f"{value:.3f}")
    return html.escape(str(value))


def table_html(columns: dict[str, list]) -> str:
    names = list(columns)
    n = len(columns[names[0]]) if names else 0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join("<tr>" + "".join(f"<td>{_cell(columns[c][i])}</td>" for c in names) + "</tr>" for i in range(n))
    return f"<table><tr>{head}</tr>{body}</table>"


def table_markdown(columns: dict[str, list], keep: tuple[str, ...] | None = None) -> str:
    names = [c for c in columns if keep is None or c in keep]
    n = len(columns[names[0]]) if names else 0
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(columns[c][i]) for c in names) + " |" for i in range(n)]
    return "\n".join(lines)


def robustness_html(table: dict[str, list], controls: dict[str, list], curves: dict[str, dict],
                    figures: dict[str, Path], random_weights: bool) -> str:
    """The report section: both tables, the crossing points and the figures (embedded PNG)."""
    note = " <b>Random weights: these figures are noise.</b>" if random_weights else ""
    parts = ["<h2>Robustness to post-processing</h2>",
             "<p>Each condition is applied identically to real and edited images before the detector's "
             "preprocessing; thresholds are the clean calibrated one; <i>_drop</i> = clean minus condition."
             f"{note}</p>", table_html(table) if table else "<p>No condition ran.</p>",
             "<h2>Controls: the edit or the pipeline?</h2>", f"<p>Clean condition, clean calibrated threshold.{note}</p>",
             table_html(controls)]
    if curves:
        parts.append("<h2>Response curves</h2><p>Fake recall at the calibrated threshold and AUROC as smooth "
                     "functions of each change metric, 95% bootstrap bands.</p>")
        parts.append(table_html({"metric": list(curves),
                                 "recall reaches 50% at": [float(c["crossing"]) for c in curves.values()]}))
    for name, path in figures.items():
        data = base64.b64encode(Path(path).read_bytes()).decode()
        parts.append(f'<h3>{html.escape(name)}</h3><img alt="{html.escape(name)}" src="data:image/png;base64,{data}">')
    return "\n".join(parts)


def evaluate_robustness(predictions: pl.DataFrame, attributes: pl.DataFrame | None, default_threshold: float,
                        target_fpr: float, n_boot: int, seed: int, out_dir: Path,
                        random_weights: bool) -> dict[str, Any]:
    """Tables, curves and figures of one detector; writes `robustness.json` and the PNGs to `out_dir`
    and returns the summary (with the report section's HTML under `html`). `attributes`: the clean
    predictions joined with their change metrics (for the response curves), when known."""
    table = robustness_table(predictions, default_threshold, target_fpr)
    controls = controls_table(predictions, target_fpr)
    threshold = clean_threshold(predictions, target_fpr)
    usable = attributes is not None and not math.isnan(threshold)
    curves = response_curves(attributes, threshold, n_boot, seed) if usable else {}
    bins = by_bin_table(attributes, default_threshold, threshold) if usable else {}
    figures = draw_figures(predictions, table, curves, out_dir, random_weights)
    worst, worst_auc = worst_condition(table)
    recall = dict(zip(controls["rows"], controls["flagged_fake"], strict=True))
    summary = {
        "random_weights": random_weights, "calibrated_threshold": threshold, "robustness": table,
        "controls": controls, "by_bin": bins, "worst_condition": worst, "worst_condition_roc_auc": worst_auc,
        "pasted_back_recall": recall.get("pasted_back", math.nan),
        "vae_roundtrip_flagged": recall.get("vae_roundtrip", math.nan),
        "format_matched_recall": recall.get("format_matched", math.nan),
        "curves": {m: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                   for m, c in curves.items()},
        "figures": {k: str(v) for k, v in figures.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "robustness.json").write_text(json.dumps(summary, default=_json_default, indent=1))
    summary["html"] = robustness_html(table, controls, curves, figures, random_weights)
    if bins:
        summary["html"] += "\n<h2>Decision metrics by bin (clean)</h2>" + table_html(bins)
    return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def append_to_report(report: Path, section: str) -> None:
    """Insert the section before the report's closing tags (the report stays one self-contained file)."""
    text = report.read_text(encoding="utf-8")
    marker = "</body></html>"
    report.write_text(text.replace(marker, f"{section}\n{marker}") if marker in text else text + section,
                      encoding="utf-8")


def leaderboard_columns(result_path: str | Path) -> dict[str, Any]:
    """Worst condition and pasted-back recall of one detector, from the `robustness/robustness.json` beside its
    result (None when the detector has not been judged under conditions or controls)."""
    path = Path(result_path).parent / ROBUSTNESS_DIR / "robustness.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}

    def number(key: str) -> float | None:
        value = summary.get(key)
        return None if value is None or (isinstance(value, float) and not math.isfinite(value)) else float(value)

    return {"worst_condition": summary.get("worst_condition"), "worst_condition_roc_auc": number("worst_condition_roc_auc"),
            "pasted_back_recall": number("pasted_back_recall")}
