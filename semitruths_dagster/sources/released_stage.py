"""The `released_edits` stage: the released evaluation set's edited images, taken as given.

Each fake row's image (and its mask, for the mask-aware crop) is validated and copied into the image
store; its method, generator, magnitude, change metrics and bins are kept as released, under this
project's column names, so detectors are judged on it without regenerating or re-measuring anything.
The released bins keep their levels (five, as released: `<metric>_bin5`); `released_bins` adds the
paper's three levels and the localization from the given values, with cutoffs over the whole set.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import replace

import numpy as np
import polars as pl

from ..config import SourceConfig
from ..metrics.bins import assign_bins, compute_cutoffs
from ..provenance import code_version, utc_now
from ..storage import ImageStore, TableStore
from ..validation import ItemRejected, locate, open_decoded, verified_rgb
from .base import Rejection
from .released import (
    BINNED,
    METRICS,
    SCENE,
    STAGE_EDITS,
    ReleasedRow,
    ReleasedTable,
    edit_fields,
    from_released_units,
    generation_id,
)

TABLE = "released_edits"
METRIC_COLUMNS = tuple(dict.fromkeys(METRICS.values()))
COMPONENT_METRICS = tuple(m for m in METRIC_COLUMNS if m.startswith(("n_components", "largest_component_ratio",
                                                                      "max_centroid_distance")))
BIN_COLUMNS = tuple(f"{m}{s}" for m in BINNED for s in ("_bin", "_bin5")) + tuple(f"{m}_bin" for m in SCENE)
SCHEMA: dict[str, pl.DataType] = {
    "generation_id": pl.Utf8, "dataset": pl.Utf8, "image_id": pl.Utf8, "mask_id": pl.Utf8, "method": pl.Utf8,
    "generator": pl.Utf8, "released_model": pl.Utf8, "magnitude": pl.Utf8, "original_text": pl.Utf8,
    "prompt": pl.Utf8, "language_model": pl.Utf8, "quality_flag": pl.Utf8, "random_weights": pl.Boolean, "image_path": pl.Utf8,
    "image_sha256": pl.Utf8, "mask_path": pl.Utf8, "width": pl.Int32, "height": pl.Int32,
    **{m: pl.Float64 for m in METRIC_COLUMNS}, **{b: pl.Utf8 for b in BIN_COLUMNS},
    "issues": pl.List(pl.Utf8), "released_path": pl.Utf8, "released_line": pl.Int64, "released_row": pl.Utf8,
    "source_file": pl.Utf8, "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}


def _store_mask(table: ReleasedTable, relpath: str, store: ImageStore) -> str | ItemRejected:
    try:
        mask_file = locate(table.root, relpath)
        open_decoded(mask_file)
        return store.put_file(mask_file)[0]
    except ItemRejected as exc:
        return exc


def edit_row(table: ReleasedTable, r: ReleasedRow, dataset: str, store: ImageStore,
             masks: dict[str, str | ItemRejected] | None = None) -> dict:
    """One released edit copied into the store; raises ItemRejected when its image is unusable.
    `masks` caches each mask file's outcome (many edits share one mask)."""
    fields, issues = edit_fields(table, r)
    path = locate(table.root, r.fields["image_path"])
    image, data = verified_rgb(path)
    fields |= from_released_units({m: fields[m] for m in COMPONENT_METRICS if m in fields}, image.width, image.height)
    image_path, sha = store.put_bytes(data, path.suffix.lower())
    mask_path = None
    if relpath := r.fields.get("mask_path"):
        masks = {} if masks is None else masks
        if relpath not in masks:
            masks[relpath] = _store_mask(table, relpath, store)
        if isinstance(masks[relpath], ItemRejected):  # the edit still counts; its crop falls back to the centre
            issues.append(f"mask_path: {masks[relpath].message} [{masks[relpath].rule}]")
        else:
            mask_path = masks[relpath]
    return fields | {"dataset": dataset, "image_path": image_path, "image_sha256": sha, "mask_path": mask_path,
                     "width": image.width, "height": image.height, "issues": issues,
                     "source_file": str(table.csv_path), "code_version": code_version(), "created_at": utc_now()}


def build_edits(table: ReleasedTable, dataset: str, store: ImageStore, done: set[str],
                commit: Callable[[list[dict]], object], chunk_size: int = 256,
                workers: int | None = None, executor: str = "process") -> tuple[int, list[Rejection]]:
    """Copy every fake row not in `done` (generation ids) into the store, committing rows chunk by
    chunk. Checking (`verified_rgb`) and hashing run in `workers` processes (default: one per core; the
    Python parts of each row hold the GIL, which caps threads as cores grow); `executor="thread"` runs
    them on threads instead (small imports always do). Each worker gets the table without its rows.
    Returns how many were made this run and the rejections (rows that broke a rule)."""
    rejections = [r for r in table.rejections if r.stage == STAGE_EDITS]
    todo = [r for r in table.fakes if generation_id(table.source, r.fields["image_path"]) not in done]
    workers = workers or os.cpu_count() or 1
    if executor not in ("process", "thread"):
        raise ValueError(f"executor must be 'process' or 'thread', got {executor!r}")
    if executor == "process" and len(todo) >= PROCESS_MIN_ROWS and workers > 1:
        # spawn: a fresh interpreter per worker, no lock copied mid-flight from this (threaded) process
        pool = ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn"), initializer=_init_worker,
                                   initargs=(replace(table, rows=[], rejections=[]), dataset, store.root))
        chunksize = 8
    else:
        _init_worker(table, dataset, store.root)
        pool, chunksize = ThreadPoolExecutor(max_workers=workers), 1
    made = 0
    with pool:
        # Two chunks in flight: the workers check chunk k+1 while this process commits chunk k.
        pending = None
        for start in range(0, len(todo) + chunk_size, chunk_size):
            submitted = pool.map(_attempt, todo[start : start + chunk_size], chunksize=chunksize)
            if pending is not None:
                results = list(pending)
                rows = [x for x in results if isinstance(x, dict)]
                rejections += [x for x in results if isinstance(x, Rejection)]
                commit(rows)  # in this process, in order: a killed run resumes after the last committed chunk
                made += len(rows)
            pending = submitted
    return made, rejections


PROCESS_MIN_ROWS = 64  # below this, starting processes costs more than it saves
_WORKER: dict = {}  # each worker's table, dataset, store and mask cache (set once by _init_worker)


def _init_worker(table: ReleasedTable, dataset: str, store_root) -> None:
    _WORKER.update(table=table, dataset=dataset, store=ImageStore(store_root), masks={})


def _attempt(r: ReleasedRow) -> dict | Rejection:
    w = _WORKER
    try:
        return edit_row(w["table"], r, w["dataset"], w["store"], w["masks"])
    except ItemRejected as exc:
        return Rejection(STAGE_EDITS, w["dataset"], r.fields["image_path"], exc.file, exc.rule, exc.message, r.line)


def released_bins(edits: pl.DataFrame) -> pl.DataFrame:
    """The paper's three-level bins (25th / 75th percentiles over every released edit given) where the
    release gave none, and localization from the given component statistics."""
    from ..metrics.pixel import dataset_localization  # OpenCV, SciPy: not when the code location loads

    if edits.is_empty():
        return edits
    columns = {}
    for metric in BINNED:
        values = edits[metric].cast(pl.Float64).fill_null(np.nan).to_numpy()
        if edits[f"{metric}_bin"].null_count() == edits.height and np.isfinite(values).any():
            columns[f"{metric}_bin"] = assign_bins(values, compute_cutoffs(values, metric=metric)).labels.tolist()
    # Stored in this project's units on import (`from_released_units`): a share, and pixels.
    width, height = edits["width"].to_numpy().astype(float), edits["height"].to_numpy().astype(float)
    largest = edits["largest_component_ratio"].cast(pl.Float64).fill_null(np.nan).to_numpy()
    distance = edits["max_centroid_distance"].cast(pl.Float64).fill_null(np.nan).to_numpy() / np.hypot(width, height)
    n_components = edits["n_components"].fill_null(np.nan).to_numpy()
    if np.isfinite(n_components).any():
        labels, _ = dataset_localization(largest, n_components, distance)
        columns["localization"] = labels.tolist()
    return edits.with_columns(pl.Series(k, v, dtype=pl.Utf8) for k, v in columns.items())


def released_frame(tables: TableStore, source: SourceConfig) -> pl.DataFrame:
    """A dataset's released edits; for a released source they must have been materialized first."""
    if tables.exists(TABLE, {"dataset": source.name}):
        return tables.read(TABLE, {"dataset": source.name})
    if source.adapter == "released":
        raise ValueError(f"'{source.name}' is a released source: materialize released_edits[{source.name}] first")
    return pl.DataFrame(schema=SCHEMA)
