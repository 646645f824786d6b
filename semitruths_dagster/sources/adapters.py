"""Source adapters: each turns one configured source into a SourceListing (images + masks).

A new format: one module with a `SourceAdapter` subclass (`base.py`), and one line in `SOURCE_ADAPTERS`. Adapters
for the benchmarks' own formats are in `native/`; an adapter that makes its masks (a segmentation model over
a folder of photos) is one more module and line the same way.
"""

from __future__ import annotations

from pathlib import Path

from ..config import ConfigError, SourceConfig
from ..registry import Registry
from .base import SourceAdapter, SourceListing
from .folder import FolderAdapter
from .native.ade20k import Ade20kAdapter
from .native.celebamask_hq import CelebAMaskHQAdapter
from .native.cityscapes import CityscapesAdapter
from .native.lip import LipAdapter
from .native.openimages import OpenImagesAdapter
from .native.sunrgbd import SunRgbdAdapter
from .released import list_released
from .shards import shard_of
from .standardized import list_standardized


class StandardizedAdapter(SourceAdapter):
    """The released Semi-Truths layout: metadata.csv + images/ + masks/."""

    ROOT = "the folder holding metadata.csv"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        return list_standardized(source)


class EmbeddedAdapter(SourceAdapter):
    """The bundled sample, rendered once into the standardized layout, then read like any other source."""

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        from .embedded import render_embedded_sample  # imports scikit-image's data module only when used

        root = render_embedded_sample(storage_root / "sources" / "embedded" / source.name, dataset=source.name)
        return list_standardized(source, root)


class ReleasedAdapter(SourceAdapter):
    """The released evaluation set: its real images here, its edits through `released_edits`."""

    ROOT = "the evaluation set's folder"

    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        return list_released(source)


SOURCE_ADAPTERS: Registry[type[SourceAdapter]] = Registry("source adapter", SourceAdapter, {
    "standardized": StandardizedAdapter,
    "embedded": EmbeddedAdapter,
    "released": ReleasedAdapter,
    "folder": FolderAdapter,  # photos only; masks from a segmenter (sources/segments_stage.py)
    # the benchmarks as their authors distribute them (sources/native/)
    "ade20k": Ade20kAdapter,
    "cityscapes": CityscapesAdapter,
    "celebamask_hq": CelebAMaskHQAdapter,
    "lip": LipAdapter,
    "openimages": OpenImagesAdapter,
    "sunrgbd": SunRgbdAdapter,
})


def list_source(source: SourceConfig, storage_root: Path) -> SourceListing:
    """The listing of a configured source through its adapter; an unknown adapter is a ConfigError."""
    if source.adapter not in SOURCE_ADAPTERS:
        raise ConfigError(f"source '{source.name}': unknown adapter '{source.adapter}' "
                          f"(known: {', '.join(SOURCE_ADAPTERS)}).")
    listing = shard_of(SOURCE_ADAPTERS[source.adapter]().list(source, storage_root), source.shard, source.shards)
    listing.adapter = source.adapter
    return listing


def automatic_masks(source: SourceConfig) -> bool:
    """Whether the source's masks come from the `segments` stage (its adapter lists images only)."""
    return source.adapter in SOURCE_ADAPTERS and SOURCE_ADAPTERS[source.adapter].AUTOMATIC_MASKS
