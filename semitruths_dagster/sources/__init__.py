"""Source adapters: each turns one configured source into a SourceListing (images + masks).

A new format takes one module with a `list_<format>(source, storage_root) -> SourceListing` function
and one line in ADAPTERS. Adapters for the benchmarks' own formats go in `native/`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path

from ..config import ConfigError, SourceConfig
from .base import ImageEntry, MaskEntry, Rejection, SourceListing
from .native import NATIVE_FORMATS
from .released import list_released
from .standardized import SourceError, list_standardized


def _standardized(source: SourceConfig, storage_root: Path) -> SourceListing:
    if source.root is None:
        raise ConfigError(f"source '{source.name}': the standardized adapter needs a 'root'")
    return list_standardized(source)


def _embedded(source: SourceConfig, storage_root: Path) -> SourceListing:
    # The sample is rendered once into the standardized layout, then read like any other source.
    from .embedded import render_embedded_sample  # imports scikit-image's data module only when used

    root = render_embedded_sample(storage_root / "sources" / "embedded" / source.name, dataset=source.name)
    return list_standardized(source, root)


def _released(source: SourceConfig, storage_root: Path) -> SourceListing:
    if source.root is None:
        raise ConfigError(f"source '{source.name}': the released adapter needs a 'root' (the evaluation set's folder)")
    return list_released(source)


Adapter = Callable[[SourceConfig, Path], SourceListing]
ADAPTERS: dict[str, Adapter] = {
    "standardized": _standardized,
    "embedded": _embedded,
    "released": _released,  # the released evaluation set: its edits come in through `released_edits`
}


def list_source(source: SourceConfig, storage_root: Path) -> SourceListing:
    try:
        adapter = ADAPTERS[source.adapter]
    except KeyError:
        hint = (
            f" '{source.adapter}' is a benchmark's own format; its adapter is not written yet (it goes in"
            " semitruths_dagster/sources/native/): convert it to the standardized layout meanwhile."
            if source.adapter in NATIVE_FORMATS else ""
        )
        raise ConfigError(
            f"source '{source.name}': unknown adapter '{source.adapter}' (known: {', '.join(ADAPTERS)}).{hint}"
        ) from None
    listing = adapter(source, storage_root)
    return shard_of(listing, source.shard, source.shards) if source.shards > 1 else listing


def shard_index(item_id: str, shards: int) -> int:
    """Which shard an image belongs to: a stable hash of its id (the same on every host and run)."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % shards


def shard_of(listing: SourceListing, shard: int, shards: int) -> SourceListing:
    """The images (and rejected items) of one shard; items without an id go to shard 0."""
    keep = [image for image in listing.images if shard_index(image.image_id, shards) == shard]
    rejected = [r for r in listing.rejections
                if (shard_index(r.item_id, shards) if r.item_id else 0) == shard]
    return dataclasses.replace(listing, images=keep, rejections=rejected)


__all__ = [
    "ADAPTERS", "ImageEntry", "MaskEntry", "Rejection", "SourceError", "SourceListing", "list_source",
]
