"""The `localization_predictions` stage: one detector's map of every real image, edit (and control) of a
dataset, stored quantized in the image store.

Targets are the detector stage's (`detectors.stage`: real images, the edits it scores, their controls),
mapped whole (no crop: the map covers the image) under the clean condition and any of
`localization.conditions`. A map is cached like a score: its key is the prediction cache key of
(detector, version, image hash, the detector's score signature + how the map was made + the condition),
so a rerun or another row with the same image reuses the stored map. Maps commit in chunks
(`ResumablePartition`): a killed run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from ..conditions import CLEAN, Condition, ConditionFailed, parse_condition
from ..controls.stage import TABLE as CONTROLS_TABLE
from ..detectors.cache import prediction_cache_key
from ..detectors.stage import Target, control_targets, drop_training_images, edits_to_score, plan_targets
from ..provenance import code_version, utc_now
from ..sections import DetectorParams, LocalizationParams
from ..sources.base import Rejection
from ..storage import ImageStore, TableStore
from ..storage.resumable import ResumablePartition
from .maps import NATIVE, SLIDING, WindowSettings, detector_maps, produces_maps, quantize
from .storage import put_map

if TYPE_CHECKING:
    from ..detectors.base import Detector

TABLE = "localization_predictions"
SCHEMA: dict[str, pl.DataType] = {
    "row_key": pl.Utf8, "map_key": pl.Utf8, "dataset": pl.Utf8, "detector": pl.Utf8,
    "detector_version": pl.Utf8, "plugin": pl.Utf8, "map_source": pl.Utf8, "label": pl.Int8,
    "image_kind": pl.Utf8, "image_id": pl.Utf8, "generation_id": pl.Utf8, "control": pl.Utf8,
    "condition": pl.Utf8, "image_path": pl.Utf8, "image_sha256": pl.Utf8, "image_height": pl.Int32,
    "image_width": pl.Int32, "map_path": pl.Utf8, "map_sha256": pl.Utf8, "map_height": pl.Int32,
    "map_width": pl.Int32, "score": pl.Float64, "map_max": pl.Float64, "windows": pl.Int32,
    "map_settings": pl.Utf8, "random_weights": pl.Boolean, "reused_from_cache": pl.Boolean,
    "maps_per_s": pl.Float64, "device": pl.Utf8, "dtype": pl.Utf8, "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}
# Columns a reused map copies from the row that made it.
MAP_COLUMNS = ("map_path", "map_sha256", "map_height", "map_width", "score", "map_max", "windows", "image_height",
               "image_width")


def maps_wanted(name: str, plugin: Any, params: LocalizationParams) -> str | None:
    """The map source of detector `name` ('native' / 'sliding_window'), or None when it makes no maps
    here; `plugin`: its plugin class (or the loaded detector)."""
    if produces_maps(plugin):
        return NATIVE
    if params.sliding_window is None or name in params.sliding_window:
        return SLIDING
    return None


def map_settings(params: LocalizationParams, source: str) -> str:
    window = WindowSettings(params.window, params.stride, params.max_windows)
    return f"{source};{window.signature};size={params.map_size}" if source == SLIDING else \
        f"{source};size={params.map_size}"


def map_key(detector: Detector, image_sha256: str, settings: str, condition: Condition) -> str:
    signature = f"{detector.score_signature()}|map={settings}|condition={condition.signature}"
    return prediction_cache_key(detector.name, detector.version, image_sha256, signature)


def row_key(key: str, t: Target) -> str:
    kind = "control" if t.control else "edited" if t.label else "real"
    payload = json.dumps([key, kind, t.image_id, t.generation_id, t.control], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Item:
    target: Target
    condition: Condition
    map_key: str
    row_key: str


def plan_items(detector: Detector, targets: Sequence[Target], conditions: Sequence[Condition],
               settings: str) -> list[Item]:
    out = []
    for condition in conditions:
        for t in targets:
            key = map_key(detector, t.sha256, settings, condition)
            out.append(Item(t, condition, key, row_key(key, t)))
    return out


def dataset_targets(detector: Detector, dataset: str, tables: TableStore, released: pl.DataFrame,
                    detector_params: DetectorParams, params: LocalizationParams) -> list[Target]:
    """What the detector stage scores in this dataset (real images, edits, controls when asked)."""
    salient = tables.read_all("saliency_labels") if detector_params.only_salient else None
    edits = edits_to_score(tables.read_all("generations"), salient, released, dataset)
    by_dataset = {"dataset": dataset}
    targets = plan_targets(tables.read("source_images", by_dataset), edits, tables.read("masks", by_dataset))
    targets = drop_training_images(detector, targets, dataset)
    controls = tables.read_all(CONTROLS_TABLE) if params.controls else pl.DataFrame()
    if controls.height:
        targets += control_targets(controls.filter(pl.col("dataset") == dataset), targets)
    return targets


def conditions_of(params: LocalizationParams, allowed: Sequence[Condition]) -> list[Condition]:
    """Clean, then each of `localization.conditions` (each must be one the detector runs)."""
    known = {c.name: c for c in allowed}
    out = [parse_condition(CLEAN)]
    for name in params.conditions:
        if name not in known:
            raise ValueError(f"localization.conditions: {name!r} is not among the detector's conditions "
                             f"{sorted(known)} (conditions.names / per_detector)")
        out.append(known[name])
    return out


def run_partition(detector: Detector, targets: Sequence[Target], dataset: str, store: ImageStore,
                  partition: ResumablePartition, params: LocalizationParams, conditions: Sequence[Condition],
                  seed: int, force: bool = False,
                  log: Callable[[str], None] = print) -> tuple[pl.DataFrame, list[Rejection], dict]:
    """Map every (target, condition) not yet committed; maps already stored under the same key are
    reused. Returns the finished partition, the rejections (unreadable image, a condition that fails or
    changes the frame) and counts."""
    source = maps_wanted(detector.name, detector, params)
    if force:
        partition.reset()
    if source is None:
        return partition.finalize(keep=set()), [], {"items": 0, "mapped": 0, "reused": 0}
    settings = map_settings(params, source)
    items = plan_items(detector, targets, conditions, settings)
    earlier = partition.committed()
    done = set(earlier["row_key"].to_list()) if earlier.height else set()
    cached = {r["map_key"]: r for r in earlier.iter_rows(named=True)} if earlier.height else {}
    todo = [i for i in items if i.row_key not in done]
    log(f"{len(items)} maps, {len(items) - len(todo)} already done, {len(todo)} to make")
    window = WindowSettings(params.window, params.stride, params.max_windows)
    now, version = utc_now(), code_version()
    base = {"dataset": dataset, "detector": detector.name, "detector_version": detector.version,
            "plugin": detector.PLUGIN, "map_source": source, "map_settings": settings,
            "random_weights": detector.random_weights, "device": str(detector.device),
            "dtype": detector.dtype_name, "code_version": version, "created_at": now}
    rejections: list[Rejection] = []
    made = reused = 0
    for start in range(0, len(todo), params.chunk_size):
        chunk = todo[start : start + params.chunk_size]
        fresh: dict[str, dict] = {}
        work: list[tuple[Item, Any]] = []
        for item in chunk:
            if item.map_key in cached or item.map_key in fresh:
                continue
            image = _open(item, store, seed, rejections, dataset, detector.name)
            if image is not None:
                fresh[item.map_key] = {}
                work.append((item, image))
        seconds = 0.0
        if work:
            started = time.perf_counter()
            result = detector_maps(detector, [im for _i, im in work], window, params.batch_size)
            seconds = time.perf_counter() - started
            for k, (item, image) in enumerate(work):
                levels = quantize(result.maps[k], params.map_size)
                path, sha = put_map(store, levels)
                score = float(result.scores[k])
                fresh[item.map_key] = {
                    "map_path": path, "map_sha256": sha, "map_height": levels.shape[0], "map_width": levels.shape[1],
                    "score": None if score != score else score, "map_max": float(levels.max()) / 255.0,
                    "windows": result.windows[k], "image_height": image.size[1], "image_width": image.size[0]}
        speed = len(work) / seconds if seconds > 0 else None
        rows = []
        for item in chunk:
            maps = fresh.get(item.map_key) or cached.get(item.map_key)
            if not maps:
                continue  # rejected above
            is_fresh = item.map_key in fresh
            made, reused = made + is_fresh, reused + (not is_fresh)
            t = item.target
            rows.append(base | {c: maps[c] for c in MAP_COLUMNS} | {
                "row_key": item.row_key, "map_key": item.map_key, "label": t.label,
                "image_kind": "control" if t.control else "edited" if t.label else "real", "image_id": t.image_id,
                "generation_id": t.generation_id, "control": t.control, "condition": item.condition.name,
                "image_path": t.image_path, "image_sha256": t.sha256, "reused_from_cache": not is_fresh,
                "maps_per_s": speed if is_fresh else maps.get("maps_per_s")})
            if is_fresh:
                fresh[item.map_key] = maps | {"maps_per_s": speed}
        partition.write_chunk(rows)
        cached.update({k: v for k, v in fresh.items() if v})
    frame = partition.finalize(keep={i.row_key for i in items})
    return frame, rejections, {"items": len(items), "mapped": made, "reused": reused}


def _open(item: Item, store: ImageStore, seed: int, rejections: list[Rejection], dataset: str, detector: str):
    """The target's image under its condition, or None (a rejection recorded)."""
    t = item.target
    try:
        with store.open(t.image_path) as opened:
            original = opened.convert("RGB")
        image = item.condition.apply(original, seed, t.sha256)
    except (ConditionFailed, OSError, ValueError) as exc:
        rejections.append(Rejection(f"{TABLE}.{detector}", dataset, t.generation_id or t.image_id, t.image_path,
                                    "condition_failed", str(exc)))
        return None
    if image.size != original.size:
        rejections.append(Rejection(
            f"{TABLE}.{detector}", dataset, t.generation_id or t.image_id, t.image_path, "condition_reframes",
            f"condition {item.condition.name!r} changes the image's size {original.size} -> {image.size}: its map "
            "would not line up with the edit mask (choose conditions that keep the frame)"))
        return None
    return image
