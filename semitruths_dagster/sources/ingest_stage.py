"""The `source_images` stage: validate every listed image and copy it into the image store."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import polars as pl

from ..provenance import code_version, utc_now
from ..storage import ImageStore
from ..validation import ItemRejected, locate, verified_rgb
from .base import ImageEntry, Rejection, SourceListing

STAGE = "source_images"
TABLE = "source_images"
SCHEMA: dict[str, pl.DataType] = {
    "image_id": pl.Utf8,
    "dataset": pl.Utf8,
    "benchmark": pl.Utf8,
    "source_root": pl.Utf8,
    "source_path": pl.Utf8,
    "image_path": pl.Utf8,  # in the image store, relative to the storage root
    "image_sha256": pl.Utf8,  # of the original file's bytes, which the store keeps unchanged
    "format": pl.Utf8,
    "width": pl.Int32,
    "height": pl.Int32,
    "entities": pl.List(pl.Utf8),
    "classes": pl.List(pl.Utf8),
    "scene_diversity": pl.Int32,  # distinct entity classes in the image
    "masks_listed": pl.Int32,
    "code_version": pl.Utf8,
    "created_at": pl.Datetime("us", "UTC"),
}


def _ingest_one(entry: ImageEntry, listing: SourceListing, store: ImageStore) -> dict:
    path = locate(listing.root, entry.path)
    image, data = verified_rgb(path)
    store_path, sha = store.put_bytes(data, path.suffix.lower())
    return {
        "image_id": entry.image_id,
        "dataset": entry.dataset,
        "benchmark": entry.benchmark,
        "source_root": str(listing.root),
        "source_path": entry.path,
        "image_path": store_path,
        "image_sha256": sha,
        "format": image.format,
        "width": image.width,
        "height": image.height,
        "entities": entry.entities,
        "classes": entry.classes,
        "scene_diversity": len({e.lower() for e in entry.entities}),
        "masks_listed": len(entry.masks),
    }


def ingest_images(listing: SourceListing, store: ImageStore, workers: int = 4) -> tuple[list[dict], list[Rejection]]:
    """Rows for the images that pass every rule, and a rejection for each one that does not."""
    rows: list[dict] = []
    rejections = list(listing.rejections)

    def attempt(entry: ImageEntry) -> dict | Rejection:
        try:
            return _ingest_one(entry, listing, store)
        except ItemRejected as exc:
            return Rejection(STAGE, entry.dataset, entry.image_id, exc.file, exc.rule, exc.message, entry.line)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(attempt, listing.images):
            (rejections if isinstance(result, Rejection) else rows).append(result)
    now, version = utc_now(), code_version()
    for row in rows:
        row.update(code_version=version, created_at=now)
    return rows, rejections
