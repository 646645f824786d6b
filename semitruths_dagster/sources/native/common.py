"""What the benchmark adapters share: one entry (or one rejection) per image, label maps read once."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np

from ...config import SourceConfig
from ...validation import ItemRejected, open_decoded
from ..base import ImageEntry, Rejection, SourceListing
from ..labelmaps import label_values
from ..standardized import SourceError

STAGE = "source_images"
MAIN_CLASSES = 3  # `class` of the standardized layout: the image's largest classes, where areas are known
T = TypeVar("T")


def rel(root: Path, path: Path) -> str:
    """`path` relative to the listing's root, '/'-separated (as the standardized csv writes paths)."""
    return Path(os.path.relpath(path, root)).as_posix()


def need_file(path: Path) -> Path:
    if not path.is_file():
        raise ItemRejected("file_exists", "file not found", path)
    return path


def need_folder(source: SourceConfig, path: Path, what: str) -> Path:
    """A folder the whole source depends on: missing is a configuration error, not one item's."""
    if not path.is_dir():
        raise SourceError(f"source '{source.name}': {path} not found ({what}; adapter {source.adapter})")
    return path


def split_folders(source: SourceConfig, folder: Callable[[str], Path], defaults: Iterable[str]) -> list[Path]:
    """The folders (`folder(split)`) of the splits to read: those named in `options.splits`, each of which
    must exist, or by default those of the benchmark's usual splits that exist."""
    named = source.options.get("splits")
    if named is None:
        return [folder(split) for split in defaults if folder(split).is_dir()]
    return [need_folder(source, folder(str(split)), f"split '{split}' named in options.splits") for split in named]


def read_labels(path: Path, channel: int | None = None) -> np.ndarray:
    """A label map's values (see `labelmaps.label_values`); a missing or broken file is ItemRejected."""
    return label_values(open_decoded(need_file(path)), path, channel)


def value_counts(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(values present, pixels of each), ascending: a bincount when the values are small non-negative
    integers (several times faster than np.unique's sort on a large map), else np.unique."""
    flat = values.ravel()
    if flat.size and flat.dtype.kind in "iu" and int(flat.min()) >= 0 and int(flat.max()) < 1 << 22:
        counts = np.bincount(flat)
        present = np.flatnonzero(counts)
        return present, counts[present]
    return np.unique(flat, return_counts=True)


def main_classes(areas: dict[str, int]) -> list[str]:
    """The MAIN_CLASSES largest classes by pixel count (ties by name)."""
    return [name for name, _ in sorted(areas.items(), key=lambda kv: (-kv[1], kv[0]))[:MAIN_CLASSES]]


def unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))


def collect(source: SourceConfig, root: Path, items: list[tuple[str, T]],
            describe: Callable[[str, T], ImageEntry], rejections: list[Rejection] | None = None,
            workers: int = 4) -> SourceListing:
    """One ImageEntry per (image id, item) from `describe`, in parallel (decoding releases the GIL); an item
    whose files break a rule (ItemRejected) becomes a rejection naming the file, the others go on."""
    rejections = list(rejections or [])

    def attempt(pair: tuple[str, T]) -> ImageEntry | Rejection:
        image_id, item = pair
        try:
            return describe(image_id, item)
        except ItemRejected as exc:
            return Rejection(STAGE, source.name, image_id, exc.file, exc.rule, exc.message)

    images: list[ImageEntry] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(attempt, items):
            (rejections if isinstance(result, Rejection) else images).append(result)
    return SourceListing(root=root, images=images, rejections=rejections)


def root_of(source: SourceConfig) -> Path:
    return Path(source.root or "").resolve()
