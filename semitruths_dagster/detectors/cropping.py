"""Mask-aware cropping (paper Algorithm 1, fixed): keep enough of the edit inside the detector's crop.

The paper measures how much of the edit mask survives the detector's crop and re-draws the crop centre
at random until at least `threshold` (0.7) of it does. The original code compared areas the wrong way
round and cropped the image at a position that mixed up the window's centre and its top-left corner.
Here the share kept is `mask pixels inside the window / mask pixels in the frame`, the window is a
`CropBox` (top-left + size) and the image is cropped with that very box (`Preprocessing.apply`).

Order of candidates: the detector's own centre crop (Algorithm 1 starts from the centre), then seeded
uniformly random windows (the paper's random re-crops), then, if none was good enough, the window that
keeps the most mask, found exactly over all positions with a summed-area table. So whenever some window
can keep the threshold share, the result keeps it. The choice uses only the mask, never the label; a
real image reuses the box chosen for its edited twin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..masks.stage import binarize
from .preprocessing import CropBox, Preprocessing

DEFAULT_THRESHOLD = 0.7
DEFAULT_MAX_TRIES = 100


@dataclass(frozen=True)
class CropChoice:
    """The chosen box, the share of the mask it keeps, and how it was found ('center' | 'random' | 'best').

    `fallback` says why the box is not a mask-aware crop that keeps `threshold` of the mask: 'empty_mask'
    (nothing to keep: the centre box, share NaN) or 'below_threshold' (the best window keeps less).
    """

    box: CropBox
    share: float
    how: str
    tries: int
    fallback: str | None = None


def binarize_mask(mask: np.ndarray) -> np.ndarray:
    """Foreground = above half the mask's maximum (0/1, 0/255, JPEG or anti-aliased masks, SPEC 3)."""
    values = np.asarray(mask)
    if values.ndim == 3:
        values = values.max(axis=-1)
    return binarize(values)[0]  # the rule the masks stage measured the mask with


def mask_share(mask: np.ndarray, box: CropBox) -> float:
    """Share of the mask's pixels inside the box (1.0 for an empty mask: nothing can be lost)."""
    total = int(mask.sum())
    if total == 0:
        return 1.0
    h, w = mask.shape
    top, left = max(box.top, 0), max(box.left, 0)
    inside = mask[top : min(box.top + box.height, h), left : min(box.left + box.width, w)].sum()
    return float(inside) / total


def _window_sums(mask: np.ndarray, crop: int) -> np.ndarray:
    """Mask pixels inside every in-frame window of side `crop`, indexed [top, left] (summed-area table)."""
    sat = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), dtype=np.int64)
    sat[1:, 1:] = mask.astype(np.int64).cumsum(0).cumsum(1)
    return sat[crop:, crop:] - sat[:-crop, crop:] - sat[crop:, :-crop] + sat[:-crop, :-crop]


def choose_crop_box(
    mask: np.ndarray,
    crop: int,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    max_tries: int = DEFAULT_MAX_TRIES,
    center: CropBox | None = None,
) -> CropChoice:
    """Choose a `crop` x `crop` window over a boolean frame mask (h, w) keeping >= `threshold` of it.

    `center` is the detector's own centre box (tried first); a frame smaller than the crop in some
    direction allows only the centred (padded) position in that direction.
    """
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    frame = (w, h)
    center = center or CropBox(int(round((w - crop) / 2.0)), int(round((h - crop) / 2.0)), crop, crop, frame)
    share = mask_share(mask, center)
    if share >= threshold:
        return CropChoice(center, share, "center", 1)
    rng = np.random.default_rng(seed)
    # Valid top-left ranges; a side shorter than the crop keeps the centred (padded) offset.
    tops = (0, h - crop) if h >= crop else (center.top, center.top)
    lefts = (0, w - crop) if w >= crop else (center.left, center.left)
    for attempt in range(max_tries):
        box = CropBox(
            int(rng.integers(lefts[0], lefts[1] + 1)),
            int(rng.integers(tops[0], tops[1] + 1)),
            crop,
            crop,
            frame,
        )
        share = mask_share(mask, box)
        if share >= threshold:
            return CropChoice(box, share, "random", attempt + 2)
    # Fallback: the window that keeps the most mask (ties: the first in row-major order).
    padded = np.zeros((max(h, crop), max(w, crop)), dtype=bool)
    oy, ox = max(0, -tops[0]), max(0, -lefts[0])
    padded[oy : oy + h, ox : ox + w] = mask
    sums = _window_sums(padded, crop)
    top, left = np.unravel_index(int(np.argmax(sums)), sums.shape)
    box = CropBox(int(left) - ox, int(top) - oy, crop, crop, frame)
    share = mask_share(mask, box)
    return CropChoice(box, share, "best", max_tries + 1, None if share >= threshold else "below_threshold")


def crop_box_for_mask(
    preprocessing: Preprocessing,
    mask: np.ndarray,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = 0,
    max_tries: int = DEFAULT_MAX_TRIES,
) -> CropChoice | None:
    """The mask-aware crop for a detector, from the edit mask at the ORIGINAL image's size.

    `mask` is the raw mask (any values: 0/1, 0/255, soft); it is binarized by the one rule of `masks`
    (above half its maximum), then goes through the detector's own resize into its frame, where the box
    is chosen. None when the detector does not crop (NPR, DE-FAKE): it already sees the whole image.
    """
    if not preprocessing.movable_crop:  # no crop, or crops fixed by the paper (B-Free's five)
        return None
    frame_mask = preprocessing.frame_mask(binarize_mask(mask))
    center = preprocessing.center_box((frame_mask.shape[1], frame_mask.shape[0]))
    if not frame_mask.any():  # nothing to keep: the centre crop, and the row says why
        return CropChoice(center, float("nan"), "center", 0, "empty_mask")
    return choose_crop_box(frame_mask, preprocessing.crop, threshold, seed, max_tries, center)
