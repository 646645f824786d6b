"""The `detector_predictions` stage: one detector's P(fake) for every real and edited image of a dataset.

Edited images are cropped where their edit is (mask-aware crop, Algorithm 1 fixed): inpainting edits
around their mask, prompt-based edits around the post-edit mask of Algorithm 2 (paper C.1). A real
image takes the crop box of its first edited twin, so real and edited images go through the same
preprocessing and nothing depends on the label. A crop that falls back to the centre says why. Every
image (and every control image) is scored under each post-processing condition the detector runs
(`conditions.py`). Scores are cached by (detector, version, image hash, preprocessing, condition): a
rerun scores only the missing triples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ..common import derive_seed
from ..conditions import CLEAN, Condition
from ..controls.stage import TABLE as CONTROLS_TABLE
from ..methods import has_input_mask
from ..provenance import code_version, utc_now
from ..sections import DetectorParams
from ..sources.base import Rejection
from ..storage import ImageStore, TableStore

if TYPE_CHECKING:  # torch loads in the step that scores, not with the code location (`DetectorParams`)
    from .base import Detector
    from .preprocessing import CropBox

TABLE = "detector_predictions"
CLEAN_CONDITION = Condition(CLEAN)
SCHEMA: dict[str, pl.DataType] = {
    "cache_key": pl.Utf8, "dataset": pl.Utf8, "detector": pl.Utf8, "detector_version": pl.Utf8,
    "plugin": pl.Utf8, "label": pl.Int8, "image_kind": pl.Utf8, "image_id": pl.Utf8, "generation_id": pl.Utf8,
    "image_sha256": pl.Utf8, "score": pl.Float64, "threshold": pl.Float64, "predicted_fake": pl.Boolean,
    "random_weights": pl.Boolean, "preprocessing": pl.Utf8, "protocol": pl.Utf8, "crop_box": pl.List(pl.Int32),
    "crop_mask_share": pl.Float64, "crop_source": pl.Utf8, "crop_fallback": pl.Utf8, "condition": pl.Utf8,
    "control": pl.Utf8, "reused_from_cache": pl.Boolean, "images_per_s": pl.Float64,
    "device": pl.Utf8, "dtype": pl.Utf8, "batch_size": pl.Int32,  # how the score was computed
    "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
# Provenance a reused score keeps from the run that computed it (its dtype is in its cache key).
SCORED_BY = ("device", "batch_size")



@dataclass
class Target:
    """One image to score."""

    label: int
    image_id: str
    generation_id: str | None
    image_path: str
    sha256: str
    mask_path: str | None = None
    box: CropBox | None = None
    share: float | None = None
    control: str | None = None  # a confound control (controls/), judged beside the edits
    crop_source: str | None = None  # the mask the box came from: 'edit_mask' | 'post_edit_mask' | 'twin'
    fallback: str | None = None  # why the box is no mask-aware crop keeping the threshold share


def plan_targets(images: pl.DataFrame, edits: pl.DataFrame, masks: pl.DataFrame,
                 post_edit_masks: dict[str, str] | None = None) -> list[Target]:
    """Real images (label 0) and edited images (label 1) of one dataset, each edit with the mask its crop
    is chosen from. Inpainting: the binarized edit mask (the `masks` stage's, else the edit's own
    `mask_path`: a released edit whose original's masks were not processed). Prompt-based editing: the
    post-edit mask of Algorithm 2 (`post_edit_masks`: generation_id -> store path, from `change_metrics`),
    as the paper crops them (C.1). An edit with neither is centre-cropped and its row says `no_mask`."""
    mask_paths = dict(zip(masks["mask_id"], masks["mask_path"], strict=True))
    post_edit_masks = post_edit_masks or {}
    targets = [Target(0, r["image_id"], None, r["image_path"], r["image_sha256"])
               for r in images.sort("image_id").iter_rows(named=True)]
    for r in edits.sort("generation_id").iter_rows(named=True) if edits.height else []:  # none yet: reals only
        if has_input_mask(r["method"]):
            mask, source = mask_paths.get(r["mask_id"]) or r.get("mask_path"), "edit_mask"
        else:
            mask, source = post_edit_masks.get(r["generation_id"]), "post_edit_mask"
        targets.append(Target(1, r["image_id"], r["generation_id"], r["image_path"], r["image_sha256"], mask,
                              crop_source=source if mask else None, fallback=None if mask else "no_mask"))
    return targets


def post_edit_masks(change_metrics: pl.DataFrame) -> dict[str, str]:
    """generation_id -> store path of its post-edit mask (Algorithm 2), as `change_metrics` stored it."""
    if change_metrics.is_empty() or "post_edit_mask_path" not in change_metrics.columns:
        return {}
    known = change_metrics.filter(pl.col("post_edit_mask_path").is_not_null())
    return dict(zip(known["generation_id"], known["post_edit_mask_path"], strict=True))


def choose_boxes(detector: Detector, targets: Sequence[Target], store: ImageStore, threshold: float,
                 seed: int) -> None:
    """Mask-aware crop boxes for the edits; each real image reuses its first edited twin's box."""
    twin_box: dict[str, tuple[CropBox, float]] = {}
    for t in targets:
        if t.label == 1 and t.mask_path:
            # The raw mask: crop_box_for_mask binarizes it by the one rule of `masks` (half its maximum).
            mask = np.asarray(store.open(t.mask_path).convert("L"))
            choice = detector.crop_box_for_mask(mask, threshold, seed=derive_seed(seed, t.generation_id))
            if choice is not None:
                t.box, t.share, t.fallback = choice.box, (None if choice.fallback == "empty_mask" else choice.share), \
                    choice.fallback
                twin_box.setdefault(t.image_id, (choice.box, t.share, choice.fallback))
    for t in targets:
        if t.label == 0 and t.image_id in twin_box:
            t.box, t.share, t.fallback = twin_box[t.image_id]
            t.crop_source = "twin"


# What an edit row must hold to be scored; released edits also bring their own mask.
EDIT_COLUMNS = ["generation_id", "image_id", "mask_id", "method", "image_path", "image_sha256"]


def edits_to_score(generations: pl.DataFrame, salient: pl.DataFrame | None, released: pl.DataFrame,
                   dataset: str) -> pl.DataFrame:
    """The dataset's generated edits (only those in `salient`, when given) plus its released edits,
    which are scored as given (the release kept salient edits only)."""
    edits = generations.filter(pl.col("dataset") == dataset) if generations.height else generations
    if salient is not None and edits.height:
        edits = edits.join(salient.filter("passed").select("generation_id"), on="generation_id", how="semi")
    if not released.height:
        return edits
    generated = [edits.select(EDIT_COLUMNS)] if edits.height else []
    return pl.concat([*generated, released.select([*EDIT_COLUMNS, "mask_path"])], how="diagonal_relaxed")


def control_targets(controls: pl.DataFrame, targets: Sequence[Target]) -> list[Target]:
    """Control images as targets, each with the crop box of the image it stands for (its edit for
    pasted-back and format-matched, its real image for a VAE round trip); a control whose image is
    not scored (an edit that is not salient) is left out."""
    edits = {t.generation_id: t for t in targets if t.label == 1}
    reals = {t.image_id: t for t in targets if t.label == 0}
    out = []
    for r in controls.sort("control_id").iter_rows(named=True) if controls.height else []:
        twin = edits.get(r["generation_id"]) if r["generation_id"] else reals.get(r["image_id"])
        if twin is not None:
            out.append(Target(r["label"], r["image_id"], r["generation_id"], r["image_path"], r["image_sha256"],
                              box=twin.box, share=twin.share, control=r["control"], crop_source=twin.crop_source,
                              fallback=twin.fallback))
    return out


def predict_dataset(detector: Detector, dataset: str, tables: TableStore, images: ImageStore,
                    released: pl.DataFrame, params: DetectorParams, seed: int,
                    conditions: Sequence[Condition] = (CLEAN_CONDITION,),
                    condition_seed: int = 0) -> tuple[list[dict], list[Rejection]]:
    """Every row of one detector's partition of one dataset: real images, edits and their controls
    under every condition, mask-aware crop boxes, and scores (those already in the partition under the
    same cache key are reused); and the (image, condition) pairs that failed, for the quarantine."""
    salient = tables.read_all("saliency_labels") if params.only_salient else None
    edits = edits_to_score(tables.read_all("generations"), salient, released, dataset)
    by_dataset = {"dataset": dataset}
    targets = plan_targets(tables.read("source_images", by_dataset), edits, tables.read("masks", by_dataset),
                           post_edit_masks(tables.read_all("change_metrics")))
    targets = drop_training_images(detector, targets, dataset)
    choose_boxes(detector, targets, images, params.crop_threshold, seed)
    controls = tables.read_all(CONTROLS_TABLE)
    if controls.height:
        targets += control_targets(controls.filter(pl.col("dataset") == dataset), targets)
    partition = {"dataset": dataset, "detector": detector.name}
    cached: dict[str, float] = {}
    scored_by: dict[str, dict] = {}
    earlier_speed = None
    if tables.exists(TABLE, partition):
        earlier = tables.read(TABLE, partition)
        cached = dict(zip(earlier["cache_key"], earlier["score"], strict=True))
        speeds = earlier["images_per_s"].drop_nulls() if "images_per_s" in earlier.columns else []
        earlier_speed = float(speeds[0]) if len(speeds) else None
        known = [c for c in SCORED_BY if c in earlier.columns]  # rows written before provenance: unknown
        scored_by = {r["cache_key"]: r for r in earlier.select("cache_key", *known).iter_rows(named=True)}
    return predict_partition(detector, targets, images, dataset, cached, params.batch_size, conditions,
                             condition_seed, earlier_speed, scored_by)


def predict_partition(detector: Detector, targets: Sequence[Target], store: ImageStore, dataset: str,
                      cached: dict[str, float], batch_size: int,
                      conditions: Sequence[Condition] = (CLEAN_CONDITION,),
                      condition_seed: int = 0,
                      earlier_speed: float | None = None,
                      scored_by: dict[str, dict] | None = None) -> tuple[list[dict], list[Rejection]]:
    """Rows for every (target, condition); scores found in `cached` (cache key -> score) are reused,
    not recomputed. A target that fails under a condition is a rejection, not a row. `images_per_s`
    (time in the detector only: preprocessing + forward) is this run's, or `earlier_speed` (the
    partition's last figure) when it scored nothing. Each row records the dtype, device and batch size
    its score was computed with: this run's, or for a reused score those in `scored_by` (cache key ->
    earlier row)."""
    from .conditioned import score_conditions

    outcomes = score_conditions(detector, targets, store, conditions, cached, batch_size, condition_seed)
    timed = [o.seconds for o in outcomes if o.seconds > 0]
    speed = len(timed) / sum(timed) if timed else earlier_speed
    now, version = utc_now(), code_version()
    this_run = {"device": str(detector.device), "batch_size": batch_size}
    scored_by = scored_by or {}
    rows, rejections = [], []
    for o in outcomes:
        t = targets[o.index]
        if o.error is not None:
            rejections.append(Rejection(f"{TABLE}.{detector.name}", dataset, t.generation_id or t.image_id,
                                        t.image_path, o.rule, o.error))
            continue
        rows.append(detector.prediction(t.sha256, o.box, o.score).to_row()
                    | {"cache_key": o.cache_key, "dataset": dataset, "label": t.label,
                       "image_kind": "control" if t.control else "edited" if t.label else "real",
                       "image_id": t.image_id, "generation_id": t.generation_id, "crop_mask_share": t.share,
                       "crop_source": t.crop_source, "crop_fallback": t.fallback,
                       "condition": o.condition.name, "control": t.control,
                       "reused_from_cache": not o.fresh, "images_per_s": speed, "dtype": detector.dtype_name,
                       "code_version": version, "created_at": now}
                    | provenance(this_run if o.fresh else scored_by.get(o.cache_key, {})))
    return rows, rejections


def provenance(row: dict) -> dict:
    """The SCORED_BY columns of a row (None where it does not say)."""
    return {c: row.get(c) for c in SCORED_BY}


def drop_training_images(detector: Detector, targets: Sequence[Target], dataset: str) -> list[Target]:
    """Targets the detector was not fitted on (a project-fitted probe never scores its training split)."""
    return [t for t in targets if not detector.trained_on(dataset, t.image_id)]


def throughput(predictions: pl.DataFrame) -> dict[str, float]:
    """Detector -> median images/s over its prediction runs (a run that scored nothing new records none)."""
    if not predictions.height or "images_per_s" not in predictions.columns:
        return {}
    runs = predictions.drop_nulls("images_per_s").unique(["detector", "dataset", "images_per_s"])
    return {r["detector"]: float(r["images_per_s"])
            for r in runs.group_by("detector").agg(pl.col("images_per_s").median()).iter_rows(named=True)}
