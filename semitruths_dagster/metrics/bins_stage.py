"""The `bins` stage (paper C.2): every change metric binned with cutoffs over the whole dataset.

Cutoffs come from all partitions at once (25th / 75th percentiles; optionally 20/40/60/80 too),
direction-aware (a high SSIM or similarity is a small change). Localized vs diffused uses the mean
component count of the whole dataset. Scene diversity / complexity are binned here and only here
(`scene_bins`: mean +- std over every image of every dataset, from the counts `masks` records); the
evaluation and the export use the same function.
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl

from ..provenance import code_version, utc_now
from ..sections import BinParams
from .bins import BinCutoffs, assign_bins, bin_mean_std, compute_cutoffs
from .pixel import dataset_localization

TABLE = "bins"
CUTOFFS_TABLE = "bin_cutoffs"
CUTOFFS_SCHEMA: dict[str, pl.DataType] = {
    "metric": pl.Utf8, "direction": pl.Utf8, "levels": pl.Int32, "percentiles": pl.List(pl.Float64),
    "cutoffs": pl.List(pl.Float64), "labels": pl.List(pl.Utf8), "n_values": pl.Int64, "n_nan": pl.Int64,
    "computed_over": pl.Utf8, "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}



def schema(params: BinParams) -> dict[str, pl.DataType]:
    columns = {"generation_id": pl.Utf8, "dataset": pl.Utf8, "generator": pl.Utf8, "method": pl.Utf8,
               "magnitude": pl.Utf8}
    for metric in params.metrics:
        columns[f"{metric}_bin"] = pl.Utf8
        if params.five_levels:
            columns[f"{metric}_bin5"] = pl.Utf8
    return columns | {"localization": pl.Utf8, "scene_diversity_bin": pl.Utf8, "scene_complexity_bin": pl.Utf8,
                      "mean_n_components": pl.Float64, "code_version": pl.Utf8,
                      "created_at": pl.Datetime("us", "UTC")}


def _cutoff_row(cut: BinCutoffs, levels: int, over: str) -> dict:
    return {"metric": cut.metric, "direction": cut.direction, "levels": levels,
            "percentiles": list(cut.percentiles), "cutoffs": list(cut.cutoffs), "labels": list(cut.labels),
            "n_values": cut.n_values, "n_nan": cut.n_nan, "computed_over": over}


def scene_bins(masks: pl.DataFrame) -> tuple[pl.DataFrame, list[dict]]:
    """Per image (all datasets together): scene diversity / complexity bins at mean +- 1 std, and the
    cutoff rows that record the mean and std used."""
    images = masks.group_by("image_id", "dataset").agg(pl.col("scene_diversity").first(),
                                                       pl.col("scene_complexity").first()).sort("image_id")
    diversity, div_cut = bin_mean_std(images["scene_diversity"].cast(pl.Float64).to_numpy())
    complexity, comp_cut = bin_mean_std(images["scene_complexity"].cast(pl.Float64).to_numpy())
    cutoffs = [
        {"metric": name, "direction": "mean_std", "levels": 3, "percentiles": [], "cutoffs": [cut.lo, cut.hi],
         "labels": ["small", "medium", "large"], "n_values": images.height, "n_nan": 0,
         "computed_over": json.dumps(sorted(images["dataset"].unique().to_list()))}
        for name, cut in (("scene_diversity", div_cut), ("scene_complexity", comp_cut))
    ]
    return images.with_columns(scene_diversity_bin=pl.Series(diversity.tolist(), dtype=pl.Utf8),
                               scene_complexity_bin=pl.Series(complexity.tolist(), dtype=pl.Utf8)), cutoffs


def build_bins(metrics: pl.DataFrame, masks: pl.DataFrame, params: BinParams) -> tuple[list[dict], list[dict]]:
    """(bins rows, cutoff rows) for every edited image of every partition."""
    if metrics.is_empty():
        return [], []
    over = json.dumps(sorted(metrics["dataset"].unique().to_list()))
    columns: dict[str, list] = {}
    cutoffs: list[dict] = []
    for metric in params.metrics:
        values = metrics[metric].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if np.isnan(values).all():  # e.g. DreamSim when its weights are not installed
            columns[f"{metric}_bin"] = [None] * metrics.height
            if params.five_levels:
                columns[f"{metric}_bin5"] = [None] * metrics.height
            continue
        for levels, suffix in [(3, "_bin")] + ([(5, "_bin5")] if params.five_levels else []):
            cut = compute_cutoffs(values, metric=metric, levels=levels)
            columns[f"{metric}{suffix}"] = assign_bins(values, cut).labels.tolist()
            cutoffs.append(_cutoff_row(cut, levels, over))
    labels, mean_n = dataset_localization(
        metrics["largest_component_ratio"].to_numpy(), metrics["n_components"].to_numpy(),
        metrics["max_centroid_distance_norm"].to_numpy(),
        share_threshold=params.diffused_share, distance_fraction=params.diffused_distance,
    )
    scene, scene_cutoffs = scene_bins(masks)
    scene = scene.select("image_id", "scene_diversity_bin", "scene_complexity_bin")
    cutoffs += scene_cutoffs
    frame = (metrics.select("generation_id", "dataset", "generator", "method", "magnitude", "image_id")
             .with_columns(**{k: pl.Series(v, dtype=pl.Utf8) for k, v in columns.items()},
                           localization=pl.Series(labels.tolist(), dtype=pl.Utf8), mean_n_components=mean_n)
             .join(scene, on="image_id", how="left").drop("image_id"))
    now, version = utc_now(), code_version()
    stamp = {"code_version": version, "created_at": now}
    return [row | stamp for row in frame.to_dicts()], [row | stamp for row in cutoffs]
