"""The `detector_predictions` stage: one detector's P(fake) for every real and edited image of a dataset.

Edited inpainting images are cropped where their mask is (mask-aware crop, Algorithm 1 fixed); a
real image takes the crop box of its first edited twin, so real and edited images go through the
same preprocessing and nothing depends on the label. Scores are cached by (detector, version, image
hash, preprocessing): a rerun scores only images it has not scored under the same preprocessing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from ..methods import has_input_mask
from ..prompts.records import derive_seed
from ..provenance import code_version, utc_now
from ..storage import ImageStore, TableStore
from .base import Detector
from .preprocessing import CropBox

TABLE = "detector_predictions"
SCHEMA: dict[str, pl.DataType] = {
    "cache_key": pl.Utf8, "dataset": pl.Utf8, "detector": pl.Utf8, "detector_version": pl.Utf8,
    "plugin": pl.Utf8, "label": pl.Int8, "image_kind": pl.Utf8, "image_id": pl.Utf8, "generation_id": pl.Utf8,
    "image_sha256": pl.Utf8, "score": pl.Float64, "threshold": pl.Float64, "predicted_fake": pl.Boolean,
    "random_weights": pl.Boolean, "preprocessing": pl.Utf8, "crop_box": pl.List(pl.Int32),
    "crop_mask_share": pl.Float64, "reused_from_cache": pl.Boolean, "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}


@dataclass(frozen=True)
class DetectorParams:
    """The `detectors` section of semitruths.yaml."""

    registry: str = "var/detectors"  # folder of detector specs (YAML); relative to the configuration file
    weights: str = "var/detectors/weights"  # where random-weight demo detectors keep their weights
    demo: tuple[str, ...] = ("npr", "universal_fake_detect")  # plugins the demo registers with random weights
    crop_threshold: float = 0.7  # share of the edit mask the crop must keep (the original's 70%)
    only_salient: bool = True  # score only edits that passed saliency_labels (the released set's rule)
    batch_size: int = 16
    schedule: str = "0 3 * * *"  # cron of the re-evaluation schedule
    target_fpr: float = 0.05  # calibrated threshold: this false-positive rate on real images
    n_boot: int = 1000  # bootstrap resamples of the confidence intervals

    def __post_init__(self) -> None:
        object.__setattr__(self, "demo", tuple(self.demo))

    def registry_dir(self, base: Path) -> Path:
        return (base / self.registry).resolve()

    def weights_dir(self, base: Path) -> Path:
        return (base / self.weights).resolve()


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


def plan_targets(images: pl.DataFrame, edits: pl.DataFrame, masks: pl.DataFrame) -> list[Target]:
    """Real images (label 0) and edited images (label 1) of one dataset; inpainting edits carry the
    binarized mask their crop is chosen from (the `masks` stage's, else the edit's own `mask_path`: a
    released edit whose original's masks were not processed)."""
    mask_paths = dict(zip(masks["mask_id"], masks["mask_path"], strict=True))
    targets = [Target(0, r["image_id"], None, r["image_path"], r["image_sha256"])
               for r in images.sort("image_id").iter_rows(named=True)]
    for r in edits.sort("generation_id").iter_rows(named=True):
        mask = (mask_paths.get(r["mask_id"]) or r.get("mask_path")) if has_input_mask(r["method"]) else None
        targets.append(Target(1, r["image_id"], r["generation_id"], r["image_path"], r["image_sha256"], mask))
    return targets


def choose_boxes(detector: Detector, targets: Sequence[Target], store: ImageStore, threshold: float,
                 seed: int) -> None:
    """Mask-aware crop boxes for the edits; each real image reuses its first edited twin's box."""
    twin_box: dict[str, tuple[CropBox, float]] = {}
    for t in targets:
        if t.label == 1 and t.mask_path:
            mask = np.asarray(store.open(t.mask_path).convert("L")) > 127
            choice = detector.crop_box_for_mask(mask, threshold, seed=derive_seed(seed, t.generation_id))
            if choice is not None:
                t.box, t.share = choice.box, choice.share
                twin_box.setdefault(t.image_id, (choice.box, choice.share))
    for t in targets:
        if t.label == 0 and t.image_id in twin_box:
            t.box, t.share = twin_box[t.image_id]


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


def predict_dataset(detector: Detector, dataset: str, tables: TableStore, images: ImageStore,
                    released: pl.DataFrame, params: DetectorParams, seed: int) -> list[dict]:
    """Every row of one detector's partition of one dataset: real images and edits to score, mask-aware
    crop boxes, and scores (those already in the partition under the same cache key are reused)."""
    salient = tables.read_all("saliency_labels") if params.only_salient else None
    edits = edits_to_score(tables.read_all("generations"), salient, released, dataset)
    by_dataset = {"dataset": dataset}
    targets = plan_targets(tables.read("source_images", by_dataset), edits, tables.read("masks", by_dataset))
    choose_boxes(detector, targets, images, params.crop_threshold, seed)
    partition = {"dataset": dataset, "detector": detector.name}
    cached: dict[str, float] = {}
    if tables.exists(TABLE, partition):
        earlier = tables.read(TABLE, partition)
        cached = dict(zip(earlier["cache_key"], earlier["score"], strict=True))
    return predict_partition(detector, targets, images, dataset, cached, params.batch_size)


def predict_partition(detector: Detector, targets: Sequence[Target], store: ImageStore, dataset: str,
                      cached: dict[str, float], batch_size: int) -> list[dict]:
    """Rows for every target; scores found in `cached` (cache key -> score) are reused, not recomputed."""
    keys = [detector.cache_key(t.sha256, t.box) for t in targets]
    todo = [i for i, k in enumerate(keys) if k not in cached]
    scores = dict(cached)
    for start in range(0, len(todo), batch_size):
        part = todo[start : start + batch_size]
        images = [store.open(targets[i].image_path).convert("RGB") for i in part]
        values = detector.score(images, boxes=[targets[i].box for i in part], batch_size=batch_size)
        scores.update({keys[i]: float(v) for i, v in zip(part, values, strict=True)})
    now, version, fresh = utc_now(), code_version(), set(todo)
    return [
        detector.prediction(t.sha256, t.box, scores[keys[i]]).to_row()
        | {"dataset": dataset, "label": t.label, "image_kind": "edited" if t.label else "real",
           "image_id": t.image_id, "generation_id": t.generation_id, "crop_mask_share": t.share,
           "reused_from_cache": i not in fresh, "code_version": version, "created_at": now}
        for i, t in enumerate(targets)
    ]
