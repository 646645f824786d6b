"""Reading the masks an adapter lists: binary mask files, or one label's pixels of a benchmark's label map."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from ..validation import ItemRejected, load_mask_array, open_decoded
from .base import LabelSelect, MaskEntry

LABEL_MODES = ("L", "P", "I", "I;16", "I;16B", "I;16L")  # single-channel maps whose values are labels
COLOUR_MODES = ("RGB", "RGBA")


def label_values(image: Image.Image, path: Path | str, channel: int | None = None) -> np.ndarray:
    """A decoded label map's values as a 2-D integer array: palette indices stay indices (never colours),
    16-bit maps keep 16 bits; `channel` picks one channel of a colour map."""
    if channel is None:
        if image.mode not in LABEL_MODES:
            raise ItemRejected("label_map_mode", f"label map is {image.mode}, expected one of {LABEL_MODES}", path)
        return np.asarray(image)
    if image.mode not in COLOUR_MODES:
        raise ItemRejected("label_map_mode", f"label map is {image.mode}, expected RGB (channel {channel})", path)
    return np.asarray(image)[:, :, channel]


def _same_aspect(mask: tuple[int, int], image: tuple[int, int]) -> bool:
    # within one pixel of the image's aspect ratio at the mask's resolution
    return abs(mask[0] * image[1] - mask[1] * image[0]) <= max(image)


def load_listed_mask(path: Path, size: tuple[int, int], entry: MaskEntry) -> np.ndarray:
    """A listed mask's pixel values at the image's `size` (width, height), as `masks` binarizes them."""
    if entry.select is None and not entry.scaled:
        return load_mask_array(path, size)
    if entry.select is not None:
        stat = path.stat()  # in the cache key: a label map rewritten in place is read again
        values = _label_map(str(path), stat.st_mtime_ns, stat.st_size, entry.select.channel, entry.select.reader)
        found = values.shape[::-1]
    else:
        image = open_decoded(path)
        found = image.size
    if found != size and not (entry.scaled and _same_aspect(found, size)):
        expected = "the image's aspect ratio" if entry.scaled else "the image's size"
        raise ItemRejected("mask_size_matches_image", f"mask is {found[0]}x{found[1]}, image is "
                                                      f"{size[0]}x{size[1]} (expected {expected})", path)
    if entry.select is not None:
        image = Image.fromarray(selected(values, entry.select))
    elif image.mode not in ("L", "I", "I;16", "F"):
        image = image.convert("L")
    if image.size != size:
        image = image.resize(size, Image.Resampling.NEAREST)
    return np.asarray(image)


@lru_cache(maxsize=16)
def _label_map(path: str, mtime_ns: int, size: int, channel: int | None,
               reader: Callable[[Path], np.ndarray] | None) -> np.ndarray:
    """A label map's values, decoded once for all the masks of its image (the stage reads them in order, a
    few threads at a time); read-only, as every caller shares it."""
    values = np.ascontiguousarray(reader(Path(path)) if reader else label_values(open_decoded(Path(path)), path, channel))
    values.flags.writeable = False
    return values


def mat_array(path: Path, key: str) -> np.ndarray:
    """The 2-D integer array `key` of a MATLAB v5 file (scipy.io; v7.3 HDF5 files are refused)."""
    from scipy.io import loadmat  # imported here: only .mat label maps need it

    try:
        value = loadmat(path, variable_names=[key]).get(key)
    except (ValueError, OSError, TypeError, NotImplementedError) as exc:
        raise ItemRejected("decodable", f"cannot read MATLAB file: {type(exc).__name__}: {exc}", path) from None
    if value is None:
        raise ItemRejected("mat_variable", f"no variable '{key}'", path)
    if value.ndim == 2 and value.dtype.kind == "f" and np.array_equal(value, np.round(value)):
        value = value.astype(np.int64)  # MATLAB saves label maps as double unless told otherwise
    if value.ndim != 2 or value.dtype.kind not in "iu":
        raise ItemRejected("mat_variable", f"'{key}' is {value.dtype} {value.shape}, expected a 2-D array of "
                                           "whole numbers", path)
    return value


def selected(values: np.ndarray, select: LabelSelect) -> np.ndarray:
    """0/255 uint8: 255 where the label map holds one of the selected values."""
    hit = values == select.values[0] if len(select.values) == 1 else np.isin(values, select.values)
    return hit.astype(np.uint8) * 255
