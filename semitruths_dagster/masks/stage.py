"""The `masks` stage: binarize, measure, filter and preprocess every mask (paper A.1, C.2)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl
from PIL import Image, ImageFilter

from ..config import MaskParams
from ..provenance import code_version, params_json, utc_now
from ..sources.base import ImageEntry, MaskEntry, Rejection, SourceListing
from ..sources.labelmaps import load_listed_mask
from ..storage import ImageStore
from ..validation import ItemRejected, locate

STAGE = "masks"
TABLE = "masks"
SCHEMA: dict[str, pl.DataType] = {
    "mask_id": pl.Utf8,
    "image_id": pl.Utf8,
    "dataset": pl.Utf8,
    "label": pl.Utf8,
    "source_path": pl.Utf8,
    "mask_path": pl.Utf8,  # binarized 0/255 PNG in the image store
    "mask_sha256": pl.Utf8,
    "preprocessed_mask_path": pl.Utf8,  # dilated, smoothed, blurred mask for inpainting (eligible only)
    "preprocessed_sha256": pl.Utf8,
    "area_ratio": pl.Float64,
    "declared_ratio": pl.Float64,  # the metadata's `ratio`, when it had one
    "source_was_binary": pl.Boolean,  # only two pixel values (0 and the maximum)
    "eligible": pl.Boolean,
    "exclusion_reason": pl.Utf8,
    "scene_diversity": pl.Int32,
    "scene_complexity": pl.Int32,
    "mask_source": pl.Utf8,  # the adapter that listed the mask (folder: drawn by the segmenter)
    "segmenter": pl.Utf8,  # the model that drew it (automatic masks), with its revision
    "segment_score": pl.Float64,  # the segmenter's score for it
    "params": pl.Utf8,
    "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}


def binarize(values: np.ndarray) -> tuple[np.ndarray, bool]:
    """Foreground = above half the mask's maximum (masks come as 0/1, 0/255, JPEG or anti-aliased)."""
    peak = values.max()
    if peak <= 0:
        return np.zeros(values.shape, dtype=bool), True
    was_binary = np.isin(values, (0, peak)).all()
    return values > peak / 2, bool(was_binary)


def preprocess(binary: np.ndarray, params: MaskParams) -> Image.Image:
    """Two max filters, a mode filter, then a Gaussian blur: the soft mask the inpainters get."""
    image = Image.fromarray(binary.astype(np.uint8) * 255, mode="L")
    for _ in range(params.max_filter_passes):
        image = image.filter(ImageFilter.MaxFilter(params.max_filter_size))
    image = image.filter(ImageFilter.ModeFilter(params.mode_filter_size))
    return image.filter(ImageFilter.GaussianBlur(params.gaussian_blur_radius))


def _measure(entry: MaskEntry, image: dict, listing: SourceListing, store: ImageStore,
             params: MaskParams) -> dict:
    path = locate(entry.root or listing.root, entry.path)
    values = load_listed_mask(path, (image["width"], image["height"]), entry)
    binary, was_binary = binarize(values)
    if not binary.any():
        raise ItemRejected("mask_not_empty", "mask has no foreground pixels", path)
    ratio = float(binary.mean())
    mask_path, mask_sha = store.put_png(Image.fromarray(binary.astype(np.uint8) * 255, mode="L"))
    eligible = ratio >= params.min_area_ratio
    pre_path = pre_sha = None
    if eligible:  # preprocessing is only needed for masks that will be inpainted
        pre_path, pre_sha = store.put_png(preprocess(binary, params))
    return {
        "mask_id": entry.mask_id, "image_id": image["image_id"], "dataset": image["dataset"],
        "label": entry.label, "source_path": entry.path, "mask_path": mask_path, "mask_sha256": mask_sha,
        "preprocessed_mask_path": pre_path, "preprocessed_sha256": pre_sha, "area_ratio": ratio,
        "declared_ratio": entry.declared_ratio, "source_was_binary": was_binary, "eligible": eligible,
        "exclusion_reason": None if eligible else f"area_ratio {ratio:.4f} < min_area_ratio {params.min_area_ratio}",
        "mask_source": listing.adapter or None, "segmenter": entry.segmenter, "segment_score": entry.score,
    }


def build_masks(listing: SourceListing, images: list[dict], store: ImageStore, params: MaskParams,
                workers: int = 4) -> tuple[list[dict], list[Rejection]]:
    """Rows for every valid mask of an accepted image; a rejection for every other mask."""
    accepted = {row["image_id"]: row for row in images}
    jobs: list[tuple[ImageEntry, MaskEntry]] = []
    rejections: list[Rejection] = []
    for entry in listing.images:
        for mask in entry.masks:
            if entry.image_id in accepted:
                jobs.append((entry, mask))
            else:
                rejections.append(Rejection(STAGE, entry.dataset, mask.mask_id, mask.path, "image_accepted",
                                            f"its image {entry.image_id} was rejected (see source_images)", mask.line))

    def attempt(job: tuple[ImageEntry, MaskEntry]) -> dict | Rejection:
        entry, mask = job
        try:
            return _measure(mask, accepted[entry.image_id], listing, store, params)
        except ItemRejected as exc:
            return Rejection(STAGE, entry.dataset, mask.mask_id, exc.file, exc.rule, exc.message, mask.line)

    rows: list[dict] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(attempt, jobs):
            (rejections if isinstance(result, Rejection) else rows).append(result)
    diversity = {e.image_id: len({x.lower() for x in e.entities}) for e in listing.images}
    _add_scene_statistics(rows, diversity)
    now, version, params_text = utc_now(), code_version(), params_json(params)
    for row in rows:
        row.update(params=params_text, code_version=version, created_at=now)
    return rows, rejections


def _add_scene_statistics(rows: list[dict], diversity: dict[str, int]) -> None:
    """Scene diversity (distinct entity classes of the listing; automatic masks: the segmenter's) and complexity (instances = valid masks) per image. Their bins
    come from `bins` (`bins_stage.scene_bins`), over every dataset at once: one definition for all."""
    complexity: dict[str, int] = {}
    for row in rows:
        complexity[row["image_id"]] = complexity.get(row["image_id"], 0) + 1
    for row in rows:
        row["scene_diversity"] = diversity[row["image_id"]]  # as source_images counts it, from the listing
        row["scene_complexity"] = complexity[row["image_id"]]
