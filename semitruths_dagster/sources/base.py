"""What a source adapter is (`SourceAdapter`) and returns: images with their masks, and the items it rejected."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..config import ConfigError, SourceConfig


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
class LabelSelect:
    """The pixels of a label map that form one mask: those whose value (in `channel` of a colour map, else
    the map's own values: palette indices, 8 or 16 bits) is one of `values`. `reader`: a module-level
    function that decodes the file into the label map, for a benchmark's own non-image format (a MATLAB
    file, polygons); None: the file is an image."""

    values: tuple[int, ...]
    channel: int | None = None
    reader: Callable[[Path], np.ndarray] | None = None


@dataclass(frozen=True)
class MaskEntry:
    mask_id: str
    label: str
    path: str  # relative to the listing's root: a binary mask, or a label map when `select` is set
    declared_ratio: float | None = None
    line: int | None = None
    select: LabelSelect | None = None
    # The benchmark ships masks at another resolution than its images (CelebAMask-HQ: 512 px for 1024 px
    # photos): a mask of the image's aspect ratio is resized (nearest) to it; any other size is rejected.
    scaled: bool = False
    # Automatic masks (`segments`): the folder the mask file is in when it is not under the listing's root
    # (the image store), and the segmenter that drew it with its score.
    root: Path | None = None
    segmenter: str | None = None
    score: float | None = None


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
    adapter: str = ""  # the adapter that listed it (recorded with each mask)


class SourceAdapter(ABC):
    """Lists one source's images and masks; `ROOT` says what its `root` is (None: it needs none)."""

    ROOT: ClassVar[str | None] = None
    # True: the adapter lists images only; the `segments` stage draws their masks.
    AUTOMATIC_MASKS: ClassVar[bool] = False

    def list(self, source: SourceConfig, storage_root: Path) -> SourceListing:
        if self.ROOT and source.root is None:
            raise ConfigError(f"source '{source.name}': the {source.adapter} adapter needs a 'root' ({self.ROOT})")
        return self.read(source, storage_root)

    @abstractmethod
    def read(self, source: SourceConfig, storage_root: Path) -> SourceListing: ...
