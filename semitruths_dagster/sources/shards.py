"""Shards of a source: `shards: N` in its configuration makes N partitions `<name>.shard<i>`, each holding
the images whose id hashes to it, so that a backfill can give every shard its own GPU."""

from __future__ import annotations

import dataclasses
import hashlib

from .base import SourceListing


def shard_index(item_id: str, shards: int) -> int:
    """Which shard an image belongs to: a stable hash of its id (the same on every host and run)."""
    return int.from_bytes(hashlib.sha256(item_id.encode()).digest()[:8], "big") % shards


def shard_of(listing: SourceListing, shard: int, shards: int) -> SourceListing:
    """The images (and rejected items) of one shard; items without an id go to shard 0."""
    if shards <= 1:
        return listing
    keep = [image for image in listing.images if shard_index(image.image_id, shards) == shard]
    rejected = [r for r in listing.rejections if (shard_index(r.item_id, shards) if r.item_id else 0) == shard]
    return dataclasses.replace(listing, images=keep, rejections=rejected)
