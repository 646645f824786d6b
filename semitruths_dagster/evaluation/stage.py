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

from ..methods import INPAINTING, INSTRUCTION
from ..metrics.bins_stage import scene_bins
from ..provenance import code_version, utc_now
from ..sources.released_stage import released_bins
from ..storage.location import read_text, write_text
from .caption_edits import changed_words
from .columns import text_columns
from .evaluate import EvaluationResult, evaluate_detector
from .leaderboard import leaderboard
from .report import write_html_report

TABLE = "evaluation"
LEADERBOARD_TABLE = "leaderboard"
_HEAD = ("accuracy", "balanced_accuracy", "real_recall", "fake_recall", "fake_precision", "fake_f1", "macro_f1")
SCHEMA: dict[str, pl.DataType] = {
    "detector": pl.Utf8, "detector_version": pl.Utf8, "random_weights": pl.Boolean, "n_real": pl.Int64,
    "n_edited": pl.Int64, "edits_random_weights": pl.Int64, "roc_auc": pl.Float64, "average_precision": pl.Float64,
    **{f"{w}_{k}": pl.Float64 for w in ("default", "calibrated") for k in ("threshold", *_HEAD)},
    "target_fpr": pl.Float64, "protocol": pl.Utf8, "result_path": pl.Utf8, "report_path": pl.Utf8, "datasets": pl.List(pl.Utf8),
    "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
EDIT_COLUMNS = ("method", "generator", "magnitude")
SCENES = ("scene_diversity", "scene_complexity")


def attribute_frame(predictions: pl.DataFrame, generations: pl.DataFrame, bins: pl.DataFrame,
                    masks: pl.DataFrame, released: pl.DataFrame | None = None) -> pl.DataFrame:
    """Predictions with their attributes: edits joined on generation_id, reals on image_id. Edits of
    a released evaluation set bring their own bins (as released, plus the paper's three levels over the
    whole set) and their given scene bins."""
    edit_frames, bin_frames, given_scenes = [], [], None
    if not generations.is_empty():
        edit_frames.append(_edit_attributes(generations))
        if not bins.is_empty():
            bin_frames.append(bins.select("generation_id", *_bin_columns(bins)))
    if released is not None and not released.is_empty():
        released = released_bins(released)
        edit_frames.append(_edit_attributes(released))
        given = released.select("generation_id", *_bin_columns(released))
        bin_frames.append(given.select(c for c in given.columns if given[c].null_count() < given.height))
        given_scenes = released.select("generation_id", *(pl.col(f"{s}_bin").alias(f"given_{s}_bin") for s in SCENES))
    frame = predictions
    for extra in (edit_frames, bin_frames):
        if extra:
            frame = frame.join(pl.concat(extra, how="diagonal_relaxed"), on="generation_id", how="left")
    scenes, _ = scene_bins(masks) if not masks.is_empty() else (None, None)
    if scenes is not None:
        frame = frame.join(scenes.select("image_id", "dataset", *(f"{s}_bin" for s in SCENES)),
                           on=["image_id", "dataset"], how="left")
    else:
        frame = frame.with_columns(pl.lit(None, pl.Utf8).alias(f"{s}_bin") for s in SCENES)
    frame = _mask_provenance(frame, generations, masks)
    if given_scenes is not None:  # a released edit's scene bins are taken as given
        frame = frame.join(given_scenes, on="generation_id", how="left").with_columns(
            pl.coalesce(f"given_{s}_bin", f"{s}_bin").alias(f"{s}_bin") for s in SCENES
        ).drop(f"given_{s}_bin" for s in SCENES)
    return frame


def _mask_provenance(frame: pl.DataFrame, generations: pl.DataFrame, masks: pl.DataFrame) -> pl.DataFrame:
    """Where the masks came from, as report attributes: `mask_source` (the adapter that listed the image's
    masks, reals and edits alike) and `segmenter` (the model that drew an inpainting edit's mask; `adapter:
    folder` only). Tables written before these columns existed add neither."""
    if masks.is_empty() or "mask_source" not in masks.columns:
        return frame
    by_image = masks.group_by("image_id", "dataset").agg(pl.col("mask_source").first())
    frame = frame.join(by_image, on=["image_id", "dataset"], how="left")
    if masks["segmenter"].is_null().all() or generations.is_empty():
        return frame
    drawn = generations.select("generation_id", "dataset", "mask_id").join(
        masks.select("mask_id", "dataset", "segmenter"), on=["mask_id", "dataset"], how="inner")
    return frame.join(drawn.select("generation_id", "segmenter"), on="generation_id", how="left")


def _edit_attributes(edits: pl.DataFrame) -> pl.DataFrame:
    """Edit attributes; the directional edit is the label pair (inpainting) or the changed words of the
    caption (prompt-based editing, `caption_edits.changed_words`). An instruction edit's prompt is the
    instruction: its pair comes from the request it was made from (recorded in `params`), a label pair for
    a mask-label request, the changed words for a caption request."""
    noise = pl.col("random_weights") if "random_weights" in edits.columns else pl.lit(None, pl.Boolean)
    params = edits["params"] if "params" in edits.columns else pl.Series([None] * edits.height, dtype=pl.Utf8)
    originals, perturbed = [], []
    for (method, text, prompt), recorded in zip(edits.select("method", "original_text", "prompt").iter_rows(),
                                                params, strict=True):
        pair = edit_pair(method, text, prompt, recorded)
        originals.append(pair[0])
        perturbed.append(pair[1])
    return edits.select("generation_id", *EDIT_COLUMNS, edit_random_weights=noise.cast(pl.Boolean)).with_columns(
        original_label=pl.Series(originals, dtype=pl.Utf8), perturbed_label=pl.Series(perturbed, dtype=pl.Utf8))


def edit_pair(method: str, original: str | None, prompt: str | None, params: str | None = None
              ) -> tuple[str | None, str | None]:
    """(original, perturbed) of one edit. Instruction edits: from `params`' instruction record (its request
    method and perturbed text); (None, None) where the row does not record them (rows made before they were)."""
    if method == INSTRUCTION:
        request = (json.loads(params) if params else {}).get("instruction") or {}
        if request.get("perturbed") is None:
            return None, None
        method, prompt = request.get("request_method", INPAINTING), request["perturbed"]
    return (original, prompt) if method == INPAINTING else changed_words(original, prompt)


def _bin_columns(frame: pl.DataFrame) -> list[str]:
    """Metric bins and localization; scene bins come with the images (from `masks`)."""
    return [c for c in frame.columns if (c.endswith(("_bin", "_bin5")) or c == "localization")
            and not c.startswith(SCENES)]


def evaluate(frame: pl.DataFrame, detector: str, version: str, random_weights: bool, threshold: float,
             target_fpr: float, n_boot: int, seed: int, out_dir: Path) -> tuple[dict, EvaluationResult]:
    """The evaluation row of one detector; writes result JSON, figures and HTML report to `out_dir`."""
    skip = {"cache_key", "detector", "detector_version", "plugin", "label", "image_kind", "image_id",
            "generation_id", "image_sha256", "score", "threshold", "predicted_fake", "random_weights",
            "preprocessing", "protocol", "crop_box", "crop_mask_share", "crop_source", "crop_fallback", "condition", "control",
            "reused_from_cache", "images_per_s", "code_version", "created_at", "edit_random_weights"}
    attributes = {c: np.asarray(frame[c].to_list(), dtype=object) for c in frame.columns if c not in skip}
    result = evaluate_detector(
        frame["label"].to_numpy(), frame["score"].to_numpy(), attributes, detector=detector,
        random_weights=random_weights, threshold=threshold, target_fpr=target_fpr, n_boot=n_boot, seed=seed,
        pair_columns=("original_label", "perturbed_label"),
        # Cluster bootstrap by source image: a real image and all its edits share (dataset, image_id).
        clusters=(frame["dataset"] + "/" + frame["image_id"]).to_list(),
    )
    result.settings["protocol"] = protocol_of(frame)
    # Edits made by random-weight generators are noise: the report says so first, like random detectors.
    if "edit_random_weights" in frame.columns:
        result.settings["edits_random_weights"] = int(frame["edit_random_weights"].fill_null(False).sum())
    out_dir.mkdir(parents=True, exist_ok=True)
    result_path = out_dir / "result.json"
    write_text(result_path, result.to_json())
    report = write_html_report(result, out_dir / "report.html", figures_dir=out_dir)
    row = {"detector": detector, "detector_version": version, "random_weights": random_weights,
           "n_real": result.n_real, "n_edited": result.n_fake,
           "edits_random_weights": result.settings.get("edits_random_weights", 0), "roc_auc": result.ranking["roc_auc"],
           "average_precision": result.ranking["average_precision"], "target_fpr": target_fpr,
           "result_path": str(result_path), "report_path": str(report),
           "datasets": sorted(frame["dataset"].unique().to_list()), "protocol": result.settings["protocol"],
           "code_version": code_version(), "created_at": utc_now()}
    for which in ("default", "calibrated"):
        row |= {f"{which}_{k}": v for k, v in result.headline(which).items()}
    return {k: _finite(v) for k, v in row.items()}, result


def protocol_of(predictions: pl.DataFrame) -> str:
    """The `detectors.protocol` the rows were scored under ('authors' for rows written before there were
    protocols; several joined by '+' when the rows mix them)."""
    if "protocol" not in predictions.columns or not predictions.height:
        return "authors"
    return "+".join(sorted(set(predictions["protocol"].fill_null("authors").to_list())))


def _finite(value):
    return None if isinstance(value, float) and not np.isfinite(value) else value


def leaderboard_rows(result_paths: list[str]) -> tuple[list[dict], list[EvaluationResult]]:
    """One row per evaluated detector, best ROC-AUC first, from the stored results."""
    results = [EvaluationResult.from_dict(json.loads(read_text(p))) for p in result_paths]
    table = leaderboard(results) if results else {}
    rows = [{k: _finite(table[k][i]) for k in table} for i in range(len(results))]
    return rows, results


def leaderboard_schema(rows: list[dict]) -> dict[str, pl.DataType]:
    """The leaderboard table's columns: the detector's name and the text columns of the page (the column
    providers' included), the random-weights flag, metrics."""
    text = text_columns()
    return {k: pl.Utf8 if k in text else pl.Boolean if k == "random_weights" else pl.Float64
            for k in (rows[0] if rows else {"detector": None})}
