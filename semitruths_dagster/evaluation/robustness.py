"""Robustness and controls: does a detector see the edit, or the pipeline and the post-processing?

- robustness table: one row per post-processing condition, the decision-rule metrics and their drop
  from `clean`; every condition is judged at the threshold calibrated on the clean reals (the
  operating point a deployed detector would have);
- controls table: edits vs every control (`controls.CONTROLS`: pasted-back, VAE round trip,
  format-matched, resampled), at the clean condition and the same threshold, each row with what the
  comparison means, and one sentence per control (e.g. "Flags resampled reals as fake: 31.0% ...");
- figures (matplotlib): reliability diagram, response curves, robustness bars;
- intervals (`resampled.resampled_intervals`, the evaluation's cluster bootstrap by source image, with
  `n_boot` resamples): every metric, and the paired differences (drop from clean, control minus edits,
  round trip minus reals) resample by resample; the share flagged of one group (a control, a bin) gets a
  Wilson interval, as the evaluation's group recalls. An interval is stored as `<column>_ci` = (lo, hi)
  and shown beside its value.
Rows of the predictions: `label`, `score`, `condition` (absent: clean), `control` (absent/null: the
real images and the edits themselves).
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from ..conditions import CLEAN  # noqa: E402
from ..controls.kinds import CONTROLS  # noqa: E402
from ..metrics.bins import level_key  # noqa: E402
from ..storage.location import write_atomic, write_text  # noqa: E402
from .bootstrap import recall_intervals  # noqa: E402
from .decision import decision_metrics, reliability  # noqa: E402
from .formatting import is_count, with_interval  # noqa: E402
from .report import SUMMARY_MARKER  # noqa: E402
from .resampled import resampled_intervals  # noqa: E402
from .response import response_curve  # noqa: E402
from .thresholds import threshold_at_fpr  # noqa: E402
from .verdicts import control_verdicts, worst_condition_sentence  # noqa: E402

ROBUSTNESS_COLUMNS = ("roc_auc", "average_precision", "tpr_at_1fpr", "tpr_at_5fpr", "eer",
                      "balanced_accuracy_default", "balanced_accuracy_calibrated", "fake_recall_calibrated",
                      "real_fpr_calibrated", "ece", "brier", "nll")
DROP_COLUMNS = ("roc_auc", "tpr_at_5fpr", "balanced_accuracy_calibrated", "fake_recall_calibrated")
CONTROL_MEANING = {
    "edits": "the edited images themselves: the recall every control is compared with",
    **{name: kind.meaning for name, kind in CONTROLS.items()},
    "real": "the real images: the false-positive rate the threshold was calibrated to",
}
ROBUSTNESS_DIR = "robustness"  # beside a detector's result.json: robustness.json and the figures
RESPONSE_METRICS = ("area_ratio", "post_edit_ratio", "lpips", "dreamsim", "sentence_similarity")
BIN_METRICS = ("roc_auc", "average_precision", "tpr_at_5fpr", "eer", "fake_recall_calibrated",
               "balanced_accuracy_calibrated")
CI = "_ci"  # suffix of an interval column: (lo, hi) per row
INTERVALS_NOTE = ("Brackets: 95% percentile intervals from {n_boot} cluster-bootstrap resamples of the source images "
                  "(each drawn with every row it has: real image, edits, controls, under every condition), so "
                  "differences (<i>_drop</i>, control minus edits, round trip minus reals) are paired image by "
                  "image; thresholds held at the clean calibrated one. The share flagged of one group "
                  "(a control, a bin) has a Wilson interval.")


def source_images(frame: pl.DataFrame) -> list[str] | None:
    """The cluster of every row: its source image (a real image, its edits and their controls share
    it, under every condition); None without image ids (then rows are resampled alone, unpaired)."""
    if "image_id" not in frame.columns:
        return None
    key = pl.col("image_id").cast(pl.Utf8)
    if "dataset" in frame.columns:
        key = pl.col("dataset").cast(pl.Utf8) + "/" + key
    return frame.select(key.alias("key"))["key"].to_list()


def _wilson(hits: int, n: int) -> tuple[float, float]:
    lo, hi = recall_intervals(np.array([hits]), np.array([n]))
    return float(lo[0]), float(hi[0])


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


def robustness_table(frame: pl.DataFrame, default_threshold: float, target_fpr: float, n_boot: int = 0,
                     seed: int = 0) -> dict[str, list]:
    """Rows: conditions (clean first); columns: the decision metrics and the drop from clean, each with
    its interval (`<column>_ci`) when n_boot > 0 (drops: paired bootstrap over source images)."""
    frame = _with_defaults(frame).filter(pl.col("control").is_null())
    calibrated = clean_threshold(frame, target_fpr)
    names = [CLEAN, *sorted(set(frame["condition"].unique().to_list()) - {CLEAN})]
    labels, scores = frame["label"].to_numpy(), frame["score"].to_numpy()
    masks = {name: (frame["condition"] == name).to_numpy() for name in names}
    masks = {name: mask for name, mask in masks.items() if mask.any()}
    iv, drops = resampled_intervals(
        labels, scores, source_images(frame), masks, {"default": default_threshold, "calibrated": calibrated},
        differences=[(name, CLEAN, name) for name in masks], n_boot=n_boot, seed=seed)
    rows = []
    for name, mask in masks.items():
        m = decision_metrics(labels[mask], scores[mask], default_threshold, calibrated)
        rows.append({"condition": name, "n": m["n"]})
        for k in ROBUSTNESS_COLUMNS:
            rows[-1][k] = m[k]
            if iv:
                rows[-1][k + CI] = iv[name][k]
    clean = next((r for r in rows if r["condition"] == CLEAN), None)
    for r in rows:
        for k in DROP_COLUMNS:
            r[f"{k}_drop"] = (clean[k] - r[k]) if clean else math.nan
            if drops:
                r[f"{k}_drop{CI}"] = drops[r["condition"]][k] if clean else (math.nan, math.nan)
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


def by_bin_table(attributes: pl.DataFrame, default_threshold: float, threshold: float,
                 columns: tuple[str, ...] = ("area_ratio_bin", "post_edit_ratio_bin", "lpips_bin", "magnitude",
                                             "localization"), n_boot: int = 0, seed: int = 0) -> dict[str, list]:
    """Decision metrics of each bin's edits against every real image, at the clean calibrated threshold
    (clean condition, no controls), with intervals when n_boot > 0 (fake recall: Wilson)."""
    labels, scores = attributes["label"].to_numpy(), attributes["score"].to_numpy()
    real = labels == 0
    subsets: dict[tuple[str, str], np.ndarray] = {}
    for column in (c for c in columns if c in attributes.columns):
        values = attributes[column]
        for value in sorted(values.filter((attributes["label"] == 1) & values.is_not_null()).unique().to_list(),
                            key=level_key):
            subsets[(column, str(value))] = real | ((labels == 1) & (values == value).fill_null(False).to_numpy())
    names = {key: f"{key[0]}={key[1]}" for key in subsets}
    iv, _ = resampled_intervals(labels, scores, source_images(attributes),
                                {names[key]: mask for key, mask in subsets.items()},
                                {"default": default_threshold, "calibrated": threshold}, n_boot=n_boot, seed=seed)
    rows = []
    for (column, value), mask in subsets.items():
        m = decision_metrics(labels[mask], scores[mask], default_threshold, threshold)
        rows.append({"attribute": column, "bin": value, "n_fake": m["n_fake"]})
        for k in BIN_METRICS:
            rows[-1][k] = m[k]
            if iv and k == "fake_recall_calibrated":
                fakes = scores[mask & (labels == 1)]
                rows[-1][k + CI] = _wilson(int((fakes > threshold).sum()), fakes.size)
            elif iv:
                rows[-1][k + CI] = iv[names[(column, value)]][k]
    return {k: [r[k] for r in rows] for k in rows[0]} if rows else {}


def worst_condition(table: dict[str, list], metric: str = "roc_auc") -> tuple[str | None, float]:
    """The condition with the lowest `metric` (NaN rows skipped)."""
    pairs = [(c, v) for c, v in zip(table.get("condition", []), table.get(metric, []), strict=True)
             if v is not None and not math.isnan(v)]
    return min(pairs, key=lambda p: p[1]) if pairs else (None, math.nan)


# What each row's share flagged is compared with (the paired difference column).
COMPARED_WITH = {name: kind.compared_with for name, kind in CONTROLS.items()}


def controls_table(frame: pl.DataFrame, target_fpr: float, n_boot: int = 0, seed: int = 0) -> dict[str, list]:
    """At the clean condition and the clean calibrated threshold: share flagged fake and AUROC against
    the real images, for the edits and every control present, and each control's share minus that of
    what it stands for (edits, or reals for a round trip), with what each comparison means. With
    n_boot > 0, intervals: Wilson for a share, paired cluster bootstrap for AUROC and the differences."""
    frame = _with_defaults(frame).filter(pl.col("condition") == CLEAN)
    threshold = clean_threshold(frame, target_fpr)
    labels, scores, control = frame["label"].to_numpy(), frame["score"].to_numpy(), frame["control"]
    plain = control.is_null().to_numpy()
    groups = {"real": plain & (labels == 0), "edits": plain & (labels == 1)}
    for name in sorted(control.drop_nulls().unique().to_list()):
        groups[name] = (control == name).fill_null(False).to_numpy()
    # Scored as a two-class set against the reals (labels by role: the reals 0, the group 1).
    role = np.where(groups["real"], 0, 1)
    subsets = {name: mask for name, mask in groups.items()}
    subsets |= {f"{name} vs real": mask | groups["real"] for name, mask in groups.items() if name != "real"}
    iv, diffs = resampled_intervals(
        role, scores, source_images(frame), subsets, {"calibrated": threshold},
        differences=[(name, name, other) for name, other in COMPARED_WITH.items()], n_boot=n_boot, seed=seed)
    out: dict[str, list] = {"rows": [], "n": [], "flagged_fake": [], "auroc_vs_real": [], "compared_with": [],
                            "difference": [], "meaning": []}
    if iv:
        out |= {f"flagged_fake{CI}": [], f"auroc_vs_real{CI}": [], f"difference{CI}": []}
    flagged = {name: float(np.mean(scores[mask] > threshold)) if mask.any() else math.nan
               for name, mask in groups.items()}
    for name, mask in groups.items():
        n = int(mask.sum())
        out["rows"].append(name)
        out["n"].append(n)
        out["flagged_fake"].append(flagged[name])
        auroc = math.nan
        if name != "real" and n and groups["real"].any():
            both = mask | groups["real"]
            auroc = decision_metrics(role[both], scores[both], threshold, threshold)["roc_auc"]
        out["auroc_vs_real"].append(auroc)
        other = COMPARED_WITH.get(name)
        out["compared_with"].append(other or "")
        out["difference"].append(flagged[name] - flagged[other] if other in flagged else math.nan)
        out["meaning"].append(CONTROL_MEANING.get(name, ""))
        if iv:
            out[f"flagged_fake{CI}"].append(_wilson(int((scores[mask] > threshold).sum()), n))
            out[f"auroc_vs_real{CI}"].append(iv[f"{name} vs real"]["roc_auc"] if name != "real" else (math.nan,) * 2)
            out[f"difference{CI}"].append(diffs[name]["flagged_calibrated"] if name in diffs else (math.nan,) * 2)
    out["threshold"] = [threshold] * len(out["rows"])
    return out


def response_curves(frame: pl.DataFrame, threshold: float, n_boot: int, seed: int) -> dict[str, dict[str, Any]]:
    """One curve per change metric present (clean condition, edits only), for metrics with >= 3 values."""
    frame = _with_defaults(frame).filter((pl.col("condition") == CLEAN) & pl.col("control").is_null())
    fakes, reals = frame.filter(pl.col("label") == 1), frame.filter(pl.col("label") == 0)
    groups = {"fake_groups": source_images(fakes), "real_groups": source_images(reals)}
    curves = {}
    for metric in RESPONSE_METRICS:
        if metric in fakes.columns and fakes[metric].drop_nulls().drop_nans().len() >= 3:
            x = fakes[metric].cast(pl.Float64).fill_null(float("nan")).to_numpy()
            curves[metric] = response_curve(x, fakes["score"].to_numpy(), reals["score"].to_numpy(), threshold,
                                            n_boot=n_boot, seed=seed, **groups)
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
        for dx, key, label in ((-0.2, "roc_auc", "ROC-AUC"), (0.2, "fake_recall_calibrated", "recall @ calibrated")):
            ax.bar(x + dx, np.nan_to_num(table[key]), 0.4, label=label, yerr=_error_bars(table, key), capsize=2)
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


def _error_bars(table: dict[str, list], key: str) -> np.ndarray | None:
    """(2, n) distances below and above each value from its interval (none without intervals)."""
    if key + CI not in table:
        return None
    value = np.asarray(table[key], dtype=float)
    lo, hi = (np.asarray([c[j] for c in table[key + CI]], dtype=float) for j in (0, 1))
    return np.nan_to_num(np.clip(np.stack([value - lo, hi - value]), 0, None))


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    write_atomic(path, lambda fh: fig.savefig(fh, format="png", dpi=80))  # never a half-drawn file
    plt.close(fig)
    return path


def _with_interval(columns: dict[str, list], name: str, i: int) -> str:
    """A value with its interval (`<name>_ci`) beside it when there is one: `0.812 [0.750, 0.870]`;
    counts as integers (`formatting.COUNTS`)."""
    ci = columns.get(name + CI)
    return html.escape(with_interval(columns[name][i], ci[i] if ci is not None else None, count=is_count(name),
                                     digits=3))


def _shown(columns: dict[str, list], keep: tuple[str, ...] | None = None) -> list[str]:
    """Columns shown: intervals go beside their value, not in a column of their own."""
    return [c for c in columns if not (c.endswith(CI) and c[: -len(CI)] in columns) and (keep is None or c in keep)]


def table_html(columns: dict[str, list]) -> str:
    names = _shown(columns)
    n = len(columns[names[0]]) if names else 0
    head = "".join(f"<th>{html.escape(c)}</th>" for c in names)
    body = "".join("<tr>" + "".join(f"<td>{_with_interval(columns, c, i)}</td>" for c in names) + "</tr>"
                   for i in range(n))
    return f"<table><tr>{head}</tr>{body}</table>"


def table_markdown(columns: dict[str, list], keep: tuple[str, ...] | None = None) -> str:
    names = _shown(columns, keep)
    n = len(columns[names[0]]) if names else 0
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_with_interval(columns, c, i) for c in names) + " |" for i in range(n)]
    return "\n".join(lines)


def control_findings(controls: dict[str, list]) -> list[str]:
    """One sentence per control present: the share of its images flagged fake at the calibrated
    threshold, beside that of what it is compared with."""
    share = dict(zip(controls.get("rows", []), controls.get("flagged_fake", []), strict=True))
    out = []
    for name in controls.get("rows", []):
        kind = CONTROLS.get(name)
        if kind is None or math.isnan(share[name]):
            continue
        other = share.get(kind.compared_with, math.nan)
        beside = "" if math.isnan(other) else f" ({kind.compared_with}: {100 * other:.1f}%)"
        out.append(f"Flags {kind.noun} as fake: {100 * share[name]:.1f}% at the calibrated threshold{beside}.")
    return out


def robustness_html(table: dict[str, list], controls: dict[str, list], curves: dict[str, dict],
                    figures: dict[str, Path], random_weights: bool, n_boot: int = 0) -> str:
    """The report section: both tables, the crossing points and the figures (embedded PNG)."""
    note = " <b>Random weights: these figures are noise.</b>" if random_weights else ""
    intervals = f" {INTERVALS_NOTE.format(n_boot=n_boot)}" if n_boot > 0 else ""
    parts = ["<h2>Robustness to post-processing</h2>",
             "<p>Each condition is applied identically to real and edited images before the detector's "
             "preprocessing; thresholds are the clean calibrated one; <i>_drop</i> = clean minus condition."
             f"{intervals}{note}</p>", table_html(table) if table else "<p>No condition ran.</p>",
             "<h2>Controls: the edit or the pipeline?</h2>",
             "<p>Clean condition, clean calibrated threshold; <i>difference</i> = the row's share flagged minus "
             f"that of what it is compared with (same source images).{note}</p>",
             *(f"<p>{html.escape(line)}</p>" for line in control_findings(controls)),
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
    table = robustness_table(predictions, default_threshold, target_fpr, n_boot, seed)
    controls = controls_table(predictions, target_fpr, n_boot, seed)
    threshold = clean_threshold(predictions, target_fpr)
    usable = attributes is not None and not math.isnan(threshold)
    curves = response_curves(attributes, threshold, n_boot, seed) if usable else {}
    bins = by_bin_table(attributes, default_threshold, threshold, n_boot=n_boot, seed=seed) if usable else {}
    figures = draw_figures(predictions, table, curves, out_dir, random_weights)
    worst, worst_auc = worst_condition(table)
    recall = dict(zip(controls["rows"], controls["flagged_fake"], strict=True))
    summary = {
        "random_weights": random_weights, "calibrated_threshold": threshold, "n_boot": n_boot, "robustness": table,
        "controls": controls, "by_bin": bins, "worst_condition": worst, "worst_condition_roc_auc": worst_auc,
        "pasted_back_recall": recall.get("pasted_back", math.nan),
        "vae_roundtrip_flagged": recall.get("vae_roundtrip", math.nan),
        "format_matched_recall": recall.get("format_matched", math.nan),
        "resampled_flagged": recall.get("resampled", math.nan),
        "control_findings": control_findings(controls),
        # The report's summary: the worst condition and every control's verdict, one sentence each.
        "verdicts": [line for line in (worst_condition_sentence(table), *control_verdicts(controls)) if line],
        "curves": {m: {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in c.items()}
                   for m, c in curves.items()},
        "figures": {k: str(v) for k, v in figures.items()},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "robustness.json", json.dumps(summary, default=_json_default, indent=1))
    summary["html"] = robustness_html(table, controls, curves, figures, random_weights, n_boot)
    if bins:
        summary["html"] += "\n<h2>Decision metrics by bin (clean)</h2>" + table_html(bins)
    return summary


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


SECTION_TITLE = "Robustness to post-processing, controls, response curves and decision metrics by bin"


def append_to_report(report: Path, section: str, verdicts: Sequence[str] = ()) -> None:
    """Insert the section, folded, before the report's closing tags, and the verdict sentences into the
    report's summary (the report stays one self-contained file)."""
    text = report.read_text(encoding="utf-8")
    marker = "</body></html>"
    folded = f"<details><summary>{html.escape(SECTION_TITLE)}</summary>\n{section}\n</details>"
    text = text.replace(marker, f"{folded}\n{marker}") if marker in text else text + folded
    lines = "".join(f"<li>{html.escape(line)}</li>" for line in verdicts)
    write_text(report, text.replace(SUMMARY_MARKER, lines + SUMMARY_MARKER, 1))


def _number(value: Any) -> float | None:
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _row_value(summary: dict[str, Any], name: str, column: str) -> tuple[float | None, float | None, float | None]:
    """(value, lo, hi) of `column` in the row `name` of the robustness table ('controls' rows when name is
    a control)."""
    table = summary.get("controls" if name in CONTROLS or name == "edits" else "robustness") or {}
    key = "rows" if "rows" in table else "condition"
    if name not in (table.get(key) or []):
        return None, None, None
    i = table[key].index(name)
    ci = (table.get(column + CI) or [None] * (i + 1))[i] or (None, None)
    return _number(table[column][i]), _number(ci[0]), _number(ci[1])


def leaderboard_columns(result_path: str | Path) -> dict[str, Any]:
    """One detector's robustness figures for the leaderboard, each with its interval (`<column>_lo` /
    `_hi`), from the `robustness/robustness.json` beside its result (None when the detector has not
    been judged under conditions or controls): TPR at 1% / 5% FPR (clean), the worst condition, its
    ROC-AUC and its drop from clean, the share of pasted-back edits and of VAE round-tripped reals
    flagged fake at the calibrated threshold."""
    path = Path(result_path).parent / ROBUSTNESS_DIR / "robustness.json"
    summary = json.loads(path.read_text()) if path.is_file() else {}
    worst = summary.get("worst_condition")
    out: dict[str, Any] = {"worst_condition": worst}
    for key, row, column in (("tpr_at_1fpr", CLEAN, "tpr_at_1fpr"), ("tpr_at_5fpr", CLEAN, "tpr_at_5fpr"),
                             ("worst_condition_roc_auc", worst, "roc_auc"),
                             ("worst_condition_roc_auc_drop", worst, "roc_auc_drop"),
                             ("pasted_back_recall", "pasted_back", "flagged_fake"),
                             ("vae_roundtrip_flagged", "vae_roundtrip", "flagged_fake")):
        value, lo, hi = _row_value(summary, row, column) if row else (None, None, None)
        out |= {key: value, f"{key}_lo": lo, f"{key}_hi": hi}
    return out
