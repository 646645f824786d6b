"""The `segments` stage: labelled masks for the images of a source whose adapter has none (`adapter: folder`).

Each accepted image (its content hash) goes through the `segmenter` role (and the `refiner`, SAM, when
`segments.refine`); the raw segments are cached by image hash and model (`<storage>/cache/segments/<model
key>/<sha>.json`, masks in the image store), so a rerun, another source holding the same photo or a change of
filters costs no model call. The filters (`SegmentParams`) then keep or drop each segment, with the reason.
Rows commit in chunks of images (`storage/resumable.py`): a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from ..disk_full import DiskFullError
from ..provenance import code_version, params_json, utc_now
from ..sections import SegmentParams
from ..storage import ImageStore
from ..storage.location import inside, write_atomic
from ..storage.resumable import ResumablePartition
from .base import MaskEntry, Rejection, SourceListing

if TYPE_CHECKING:  # models load torch: this module is imported by the light `masks` asset
    from ..models.handle import LoadedModel

STAGE = "segments"
TABLE = "segments"
KEY = "segment_id"
NO_SEGMENT = "none"  # the segment_id suffix of an image's row when the segmenter found nothing
SCHEMA: dict[str, pl.DataType] = {
    "segment_id": pl.Utf8,  # <image_id>#<n>, n by decreasing score
    "image_id": pl.Utf8,
    "dataset": pl.Utf8,
    "image_sha256": pl.Utf8,
    "label": pl.Utf8,
    "label_id": pl.Int32,
    "score": pl.Float64,
    "is_thing": pl.Boolean,
    "area_ratio": pl.Float64,
    "mask_path": pl.Utf8,  # binary 0/255 PNG in the image store
    "refined": pl.Boolean,
    "refine_score": pl.Float64,
    "kept": pl.Boolean,
    "filter_reason": pl.Utf8,
    "segmenter": pl.Utf8,  # hub id (or folder) of the model that drew it, with its revision
    "refiner": pl.Utf8,
    "random_weights": pl.Boolean,
    "params": pl.Utf8,
    "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}


def model_name(handle: LoadedModel) -> str:
    """How rows name the model: its hub id (a tiny build: the hub id it stands for, marked random), or
    the local folder; with the loaded revision."""
    from ..models.profiles import PAPER_MODELS

    ref = handle.ref
    if ref.source == "tiny":
        return f"{PAPER_MODELS[ref.name]} (tiny random build)"
    name = ref.hub_id or ref.ref
    return f"{name}@{handle.revision}" if handle.revision else name


def model_key(segmenter: str, refiner: str | None, params: SegmentParams) -> str:
    """What decides a cached segmentation: the models and the settings the model run uses (not the filters)."""
    text = json.dumps({"segmenter": segmenter, "refiner": refiner, "min_score": params.min_score,
                       "min_mask_share": params.min_mask_share,
                       "stuff_labels": sorted(params.stuff_labels)}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _cached(store: ImageStore, key: str, sha: str) -> Path:
    return inside(store.root, f"cache/segments/{key}/{sha}.json")


def _segments_of(row: dict, store: ImageStore, key: str, models: Callable[[], tuple], params: SegmentParams):
    """The raw segments of one image: from the cache, else from the models (then cached)."""
    from .segmenter import Segment, refine, segment

    target = _cached(store, key, row["image_sha256"])
    if target.exists():
        entries = json.loads(target.read_text())
        return [Segment(**{**e, "mask": np.asarray(store.open(e["mask"]).convert("L")) > 127}) for e in entries]
    segmenter, refiner = models()
    image = store.open(row["image_path"]).convert("RGB")
    found = segment(segmenter, image, params)
    if refiner is not None:
        found = refine(refiner, image, found)
    entries = []
    for seg in found:
        path, _ = store.put_png(seg.mask.astype(np.uint8) * 255)
        entries.append({**asdict(seg), "mask": path})
    write_atomic(target, lambda fh: fh.write(json.dumps(entries).encode()), store.root)
    return found


def run_segments(images: list[dict], store: ImageStore, resumable: ResumablePartition,
                 models: Callable[[], tuple[LoadedModel, LoadedModel | None]], names: tuple[str, str | None, bool],
                 params: SegmentParams, force: bool = False,
                 log: Callable[[str], None] = lambda _: None) -> tuple[pl.DataFrame, list[Rejection], dict]:
    """Segment every accepted image not done yet; rows for every segment (kept or dropped, with the
    filter), a rejection for each image the segmenter could not read. `models` loads (segmenter, refiner)
    on first need: a rerun that is all cache hits loads nothing."""
    from .segmenter import filter_segments

    segmenter, refiner, random_weights = names
    params_text = params_json(params)
    store_tables, table, partition = resumable.store, resumable.table, resumable.partition
    if not force and store_tables.exists(table, partition):  # other settings: redo (the cache serves the models)
        force = bool((store_tables.read(table, partition)["params"] != params_text).any())
    if force:
        resumable.reset()
    done = {k.rsplit("#", 1)[0] for k in resumable.done_keys()}
    key = model_key(segmenter, refiner, params)
    todo = [row for row in images if row["image_id"] not in done]
    now, version = utc_now(), code_version()
    rejections: list[Rejection] = []
    chunk: list[dict] = []
    for i, row in enumerate(todo):
        try:
            found = _segments_of(row, store, key, models, params)
        except DiskFullError:  # the store's disk, not this image: the step fails (re-run resumes)
            raise
        except (OSError, ValueError, RuntimeError) as exc:  # undecodable or too small for the model
            rejections.append(Rejection(STAGE, row["dataset"], row["image_id"], row["image_path"], "segmentable",
                                        f"the segmenter could not read it: {type(exc).__name__}: {exc}"[:300]))
            continue
        base = {"image_id": row["image_id"], "dataset": row["dataset"], "image_sha256": row["image_sha256"],
                "segmenter": segmenter, "refiner": refiner, "random_weights": random_weights,
                "params": params_text, "code_version": version, "created_at": now}
        verdicts = filter_segments(found, params)
        if not verdicts:
            chunk.append({**base, KEY: f"{row['image_id']}#{NO_SEGMENT}", "kept": False,
                          "filter_reason": "the segmenter found no segment"})
        for n, (seg, reason) in enumerate(verdicts):
            path, _ = store.put_png(seg.mask.astype(np.uint8) * 255)
            chunk.append({**base, KEY: f"{row['image_id']}#{n}", "label": seg.label, "label_id": seg.label_id,
                          "score": seg.score, "is_thing": seg.is_thing, "area_ratio": float(seg.mask.mean()),
                          "mask_path": path, "refined": seg.refined, "refine_score": seg.refine_score,
                          "kept": reason is None, "filter_reason": reason})
        if (i + 1) % params.chunk_size == 0:
            resumable.write_chunk(chunk)
            chunk = []
            log(f"segments: {i + 1}/{len(todo)} images")
    resumable.write_chunk(chunk)
    wanted = {row["image_id"] for row in images}
    frame = resumable.finalize()
    frame = frame.filter(pl.col("image_id").is_in(list(wanted)))
    return frame, rejections, {"segmented_this_run": len(todo) - len(rejections), "already_done": len(done)}


def attach_segments(listing: SourceListing, segments: list[dict], store: ImageStore) -> SourceListing:
    """The listing with each image's kept segments as its masks and the segmenter's classes as its entities
    (scene diversity: distinct classes the segmenter found; complexity: the kept masks, counted by `masks`).
    Sources with no segment rows come back unchanged."""
    if not segments:
        return listing
    by_image: dict[str, list[dict]] = {}
    for row in segments:
        by_image.setdefault(row["image_id"], []).append(row)
    for entry in listing.images:
        rows = [r for r in by_image.get(entry.image_id, []) if r["label"] is not None]
        entry.entities = sorted({r["label"] for r in rows})
        kept = [r for r in rows if r["kept"]]
        entry.classes = sorted({r["label"] for r in kept})
        for r in kept:
            local = store.local_path(r["mask_path"])  # a local copy when the store is an object store
            entry.masks.append(MaskEntry(r["segment_id"], r["label"], local.name, round(r["area_ratio"], 6),
                                         root=local.parent, segmenter=r["segmenter"], score=r["score"]))
    return listing
