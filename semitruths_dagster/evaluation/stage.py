"""The `evaluation` and `leaderboard` stages: a detector's predictions joined with every axis of change.

Edited images carry their dataset, method, generator, semantic magnitude, every metric bin,
localization, scene bins and the directional edit (original label -> perturbed label); real images
carry their dataset and scene bins. One JSON result, figures and a self-contained HTML report per
detector land under `<storage>/reports/<detector>/`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl

from ..metrics.bins_stage import scene_bins
from ..provenance import code_version, utc_now
from .evaluate import EvaluationResult, evaluate_detector
from .leaderboard import leaderboard
from .plots import make_figures
from .report import write_html_report

TABLE = "evaluation"
LEADERBOARD_TABLE = "leaderboard"
_HEAD = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "fake_precision", "fake_f1", "macro_f1")
SCHEMA: dict[str, pl.DataType] = {
    "detector": pl.Utf8, "detector_version": pl.Utf8, "random_weights": pl.Boolean, "n_real": pl.Int64,
    "n_edited": pl.Int64, "roc_auc": pl.Float64, "average_precision": pl.Float64,
    **{f"{w}_{k}": pl.Float64 for w in ("default", "calibrated") for k in ("threshold", *_HEAD)},
    "target_fpr": pl.Float64, "result_path": pl.Utf8, "report_path": pl.Utf8, "datasets": pl.List(pl.Utf8),
    "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
EDIT_COLUMNS = ("method", "generator", "magnitude")


def attribute_frame(predictions: pl.DataFrame, generations: pl.DataFrame, bins: pl.DataFrame,
                    masks: pl.DataFrame) -> pl.DataFrame:
    """Predictions with their attributes: edits joined on generation_id, reals on image_id."""
    edits = generations.select("generation_id", *EDIT_COLUMNS, original_label=pl.when(pl.col("method") == "inpainting")
                               .then(pl.col("original_text")), perturbed_label=pl.when(pl.col("method") == "inpainting")
                               .then(pl.col("prompt")))
    bin_columns = [c for c in bins.columns if c.endswith(("_bin", "_bin5")) or c == "localization"]
    frame = predictions.join(edits, on="generation_id", how="left")
    if not bins.is_empty():
        frame = frame.join(bins.select("generation_id", *bin_columns), on="generation_id", how="left")
    scenes, _ = scene_bins(masks)
    return frame.join(scenes.select("image_id", "dataset", "scene_diversity_bin", "scene_complexity_bin"),
                      on=["image_id", "dataset"], how="left")


def evaluate(frame: pl.DataFrame, detector: str, version: str, random_weights: bool, threshold: float,
             target_fpr: float, n_boot: int, seed: int, out_dir: Path) -> tuple[dict, EvaluationResult]:
    """The evaluation row of one detector; writes result JSON, figures and HTML report to `out_dir`."""
    skip = {"cache_key", "detector", "detector_version", "plugin", "label", "image_kind", "image_id",
            "generation_id", "image_sha256", "score", "threshold", "predicted_fake", "random_weights",
            "preprocessing", "crop_box", "crop_mask_share", "reused_from_cache", "code_version", "created_at"}
    attributes = {c: np.asarray(frame[c].to_list(), dtype=object) for c in frame.columns if c not in skip}
    result = evaluate_detector(
        frame["label"].to_numpy(), frame["score"].to_numpy(), attributes, detector=detector,
        random_weights=random_weights, threshold=threshold, target_fpr=target_fpr, n_boot=n_boot, seed=seed,
        pair_columns=("original_label", "perturbed_label"),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / "result.json"
    result_path.write_text(result.to_json())
    make_figures(result, out_dir)
    report = write_html_report(result, out_dir / "report.html", figures_dir=out_dir)
    row = {"detector": detector, "detector_version": version, "random_weights": random_weights,
           "n_real": result.n_real, "n_edited": result.n_fake, "roc_auc": result.ranking["roc_auc"],
           "average_precision": result.ranking["average_precision"], "target_fpr": target_fpr,
           "result_path": str(result_path), "report_path": str(report),
           "datasets": sorted(frame["dataset"].unique().to_list()),
           "code_version": code_version(), "created_at": utc_now()}
    for which in ("default", "calibrated"):
        row |= {f"{which}_{k}": v for k, v in result.headline(which).items()}
    return {k: _finite(v) for k, v in row.items()}, result


def _finite(value):
    return None if isinstance(value, float) and not np.isfinite(value) else value


def leaderboard_rows(result_paths: list[str]) -> tuple[list[dict], list[EvaluationResult]]:
    """One row per evaluated detector, best ROC-AUC first, from the stored results."""
    results = [EvaluationResult.from_dict(json.loads(Path(p).read_text())) for p in result_paths]
    table = leaderboard(results) if results else {}
    rows = [{k: _finite(table[k][i]) for k in table} for i in range(len(results))]
    return rows, results
