"""Per-pixel maps from any detector: its own map (a map-output detector) or a sliding window.

The sliding window scores square windows of the image with the detector's ordinary `score` (each window
through the detector's own preprocessing) and gives every pixel the mean P(fake) of the windows that
cover it. The window grid is capped at `max_windows` per image (it thins out evenly, first and last
window at the image's edges), so the cost per image is bounded whatever its size; pixels no window
covers (a grid thinned below full coverage) take the mean of the image's windows.

A map-output detector is any detector with `PRODUCES_MAPS = True` and
`localize(images, batch_size) -> (P(fake) per image, one float map in [0, 1] per image at its size)`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

NATIVE = "native"
SLIDING = "sliding_window"


@dataclass(frozen=True)
class WindowSettings:
    """How a sliding-window map is made (part of the map's cache key)."""

    window: int = 224
    stride: int = 112
    max_windows: int = 64

    @property
    def signature(self) -> str:
        return f"w={self.window};s={self.stride};max={self.max_windows}"


def produces_maps(detector: Any) -> bool:
    """Whether the detector gives its own maps (the map-output contract)."""
    return bool(getattr(detector, "PRODUCES_MAPS", False))


def axis_starts(length: int, window: int, count: int) -> np.ndarray:
    """`count` window starts spread evenly over [0, length - window] (first and last at the edges)."""
    return np.rint(np.linspace(0, length - window, count)).astype(np.int64)


def window_grid(height: int, width: int, settings: WindowSettings) -> tuple[int, np.ndarray, np.ndarray]:
    """(window side, row starts, column starts): windows of min(window, shorter side) px every `stride`
    px, at most `max_windows` in all. Over the cap, the grid thins: it keeps covering the image while the
    cap allows (then adds windows to the axis thinned most), else shrinks both axes in proportion."""
    side = min(settings.window, height, width)
    full = (math.ceil((height - side) / settings.stride) + 1, math.ceil((width - side) / settings.stride) + 1)
    ny, nx = full
    if ny * nx > settings.max_windows:
        cover = (min(full[0], math.ceil(height / side)), min(full[1], math.ceil(width / side)))
        if cover[0] * cover[1] <= settings.max_windows:
            ny, nx = cover
            while True:  # densify the axis furthest below its full count, within the cap
                grow = sorted((n / f, axis) for axis, (n, f) in enumerate(zip((ny, nx), full, strict=True)) if n < f)
                if not grow:
                    break
                ny2, nx2 = (ny + 1, nx) if grow[0][1] == 0 else (ny, nx + 1)
                if ny2 * nx2 > settings.max_windows:
                    break
                ny, nx = ny2, nx2
        else:
            scale = math.sqrt(settings.max_windows / (ny * nx))
            ny, nx = max(1, round(ny * scale)), max(1, round(nx * scale))
            while ny * nx > settings.max_windows:
                ny, nx = (ny - 1, nx) if ny >= nx else (ny, nx - 1)
    return side, axis_starts(height, side, ny), axis_starts(width, side, nx)


def sliding_window_maps(detector: Any, images: Sequence[Image.Image], settings: WindowSettings,
                        batch_size: int = 16) -> tuple[list[np.ndarray], list[int]]:
    """One float32 (H, W) map per image and its number of windows. Every window of every image goes
    through one `detector.score` call, batched."""
    crops: list[Image.Image] = []
    grids = []
    for image in images:
        width, height = image.size
        side, ys, xs = window_grid(height, width, settings)
        grids.append((side, ys, xs, len(crops)))
        crops += [image.crop((int(x), int(y), int(x) + side, int(y) + side)) for y in ys for x in xs]
    scores = np.asarray(detector.score(crops, batch_size=batch_size), dtype=np.float64) if crops else np.empty(0)
    maps = []
    for image, (side, ys, xs, first) in zip(images, grids, strict=True):
        width, height = image.size
        total = np.zeros((height, width), dtype=np.float64)
        count = np.zeros((height, width), dtype=np.int32)
        values = scores[first : first + len(ys) * len(xs)]
        for k, (y, x) in enumerate((y, x) for y in ys for x in xs):
            total[y : y + side, x : x + side] += values[k]
            count[y : y + side, x : x + side] += 1
        covered = count > 0
        out = np.full((height, width), values.mean(), dtype=np.float64)
        out[covered] = total[covered] / count[covered]
        maps.append(out.astype(np.float32))
    return maps, [len(ys) * len(xs) for _s, ys, xs, _f in grids]


@dataclass
class MapResult:
    """Maps of a batch of images: P(fake) per image (the plugin's own; NaN for a sliding window, whose
    image-level score is its map's maximum), the maps at each image's size, windows per image (0: native)."""

    scores: np.ndarray
    maps: list[np.ndarray]
    windows: list[int]
    source: str


def detector_maps(detector: Any, images: Sequence[Image.Image], settings: WindowSettings,
                  batch_size: int = 16) -> MapResult:
    """Maps of `images` by `detector`: its own (map-output contract, checked) or a sliding window."""
    if not produces_maps(detector):
        maps, windows = sliding_window_maps(detector, images, settings, batch_size)
        return MapResult(np.full(len(images), np.nan), maps, windows, SLIDING)
    scores, maps = detector.localize(images, batch_size=batch_size)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != (len(images),) or len(maps) != len(images):
        raise ValueError(f"detector '{detector.name}': localize gave {scores.shape} scores and {len(maps)} maps "
                         f"for {len(images)} images (the map-output contract: one of each per image)")
    checked = []
    for i, (image, m) in enumerate(zip(images, maps, strict=True)):
        m = np.asarray(m, dtype=np.float32)
        if m.shape != (image.size[1], image.size[0]):
            raise ValueError(f"detector '{detector.name}': map {i} has shape {m.shape}, its image is "
                             f"{image.size[1]}x{image.size[0]} (the map-output contract: (H, W) of the image)")
        if not np.isfinite(m).all() or m.min() < 0 or m.max() > 1:
            raise ValueError(f"detector '{detector.name}': map {i} has values outside [0, 1] (or NaN)")
        checked.append(m)
    return MapResult(scores, checked, [0] * len(images), NATIVE)


def stored_size(height: int, width: int, map_size: int) -> tuple[int, int]:
    """(height, width) of a stored map: the longer side at most `map_size`, aspect kept."""
    scale = min(1.0, map_size / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def quantize(prob_map: np.ndarray, map_size: int) -> np.ndarray:
    """The map as stored: area-averaged down to `stored_size`, then 8 bits (level = round(255 p))."""
    height, width = prob_map.shape
    h, w = stored_size(height, width, map_size)
    small = prob_map if (h, w) == (height, width) else np.asarray(
        Image.fromarray(prob_map.astype(np.float32), mode="F").resize((w, h), Image.BOX))
    return np.clip(np.rint(small * 255.0), 0, 255).astype(np.uint8)
