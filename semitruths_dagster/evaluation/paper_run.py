"""A stored run, compared with the paper: the clean prediction rows of every detector that stands for one of
the paper's, with their attributes (as the `evaluation` stage joins them, plus each image's source
benchmark), evaluated and set beside `paper_results.yaml` (`paper.compare`). `semitruths compare-paper`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from .paper import PaperResults, RunDetector, compare, evaluate_run, load_paper_results
from .stage import attribute_frame, protocol_of

if TYPE_CHECKING:
    from ..config import ProjectConfig
    from ..storage import TableStore
    from .paper import Comparison

PREDICTIONS = "detector_predictions"


def clean_predictions(predictions: pl.DataFrame) -> pl.DataFrame:
    """The clean condition's real images and edits (no post-processing condition, no control)."""
    if "condition" not in predictions.columns:
        return predictions
    return predictions.filter((pl.col("condition") == "clean") & pl.col("control").is_null())


def run_frame(tables: TableStore) -> pl.DataFrame:
    """Every detector's clean rows with their attributes and `benchmark` (the image's source benchmark)."""
    predictions = clean_predictions(tables.read_all(PREDICTIONS))
    if predictions.is_empty():
        return predictions
    frame = attribute_frame(predictions, tables.read_all("generations"), tables.read_all("bins"),
                            tables.read_all("masks"), tables.read_all("released_edits"))
    images = tables.read_all("source_images")
    if not images.is_empty() and "benchmark" in images.columns:
        frame = frame.join(images.select("dataset", "image_id", "benchmark").unique(["dataset", "image_id"]),
                           on=["dataset", "image_id"], how="left")
    return frame


def not_released(config: ProjectConfig, datasets: list[str]) -> list[str]:
    """The datasets of the run that are not a released evaluation set, each with its adapter."""
    out = []
    for name in datasets:
        source = config.sources.get(name)
        if source is None or source.adapter != "released":
            out.append(f"{name} (adapter {source.adapter if source else 'unknown: not in the configuration'})")
    return out


def run_detectors(frame: pl.DataFrame, paper: PaperResults, n_boot: int, seed: int) -> dict[str, RunDetector]:
    """Paper detector -> this run's detector standing for it (by plugin; the first by name when several do)."""
    runs: dict[str, RunDetector] = {}
    for name in sorted(frame["detector"].unique().to_list()) if frame.height else []:
        rows = frame.filter(pl.col("detector") == name)
        stands_for = paper.detector_of(rows["plugin"][0])
        if stands_for is None or stands_for in runs:
            continue
        attributes = {c: np.asarray(rows[c].to_list(), dtype=object) for c in rows.columns}
        runs[stands_for] = evaluate_run(
            rows["label"].to_numpy(), rows["score"].to_numpy(), attributes,
            (rows["dataset"] + "/" + rows["image_id"]).to_list(), name=name, plugin=rows["plugin"][0],
            protocol=protocol_of(rows), random_weights=bool(rows["random_weights"].any()),
            threshold=float(rows["threshold"][0]), n_boot=n_boot, seed=seed)
    return runs


def compare_stored(config: ProjectConfig, tables: TableStore, n_boot: int = 1000,
                   paper: PaperResults | None = None) -> Comparison:
    """The comparison of the run stored in `tables` (configuration `config`) with the paper."""
    paper = paper or load_paper_results()
    frame = run_frame(tables)
    runs = run_detectors(frame, paper, n_boot, config.seed)
    if frame.height:
        n_real = frame.filter(pl.col("label") == 0).select("dataset", "image_id").n_unique()
        n_edited = frame.filter(pl.col("label") == 1)["generation_id"].n_unique()
        datasets = sorted(frame["dataset"].unique().to_list())
    else:
        n_real = n_edited = 0
        datasets = []
    return compare(paper, runs, n_real, n_edited, not_released(config, datasets))
