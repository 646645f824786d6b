"""What every source adapter returns: images with their masks, and the items it rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Rejection:
    """One input item that broke a rule; lands in the quarantine table."""

    stage: str
    dataset: str
    item_id: str | None
    file: str | None
    rule: str
    message: str
    line: int | None = None  # metadata line (1-based, header = 1) when the item came from a csv


@dataclass(frozen=True)
class MaskEntry:
    mask_id: str
    label: str
    path: str  # relative to the listing's root
    declared_ratio: float | None = None
    line: int | None = None


@dataclass
class ImageEntry:
    image_id: str
    dataset: str  # the partition key (the configured source name)
    benchmark: str  # the benchmark the image comes from (metadata's `dataset` column)
    path: str  # relative to the listing's root
    entities: list[str]
    classes: list[str]
    masks: list[MaskEntry] = field(default_factory=list)
    line: int | None = None


@dataclass
class SourceListing:
    """All items a source names, before any file is opened."""

    root: Path
    images: list[ImageEntry]
    rejections: list[Rejection] = field(default_factory=list)
