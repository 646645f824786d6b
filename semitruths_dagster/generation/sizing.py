"""Working sizes and the one resampling path between an original and a generator.

A detector of interpolation traces (NPR, SAFE, SPAI) flags any image that was resized. Generating at a
square working size and resizing the output back makes every edit resampled while no real image is: the
detector then tells the pipeline, not the edit. So each generator runs at the original's own size where
its family allows it (sides multiples of the family's factor, within its pixel budget), else at the
nearest size that does, aspect kept (or the family's trained bucket nearest in aspect ratio). Whether and
how an edit was resampled is recorded on its row, and the `resampled` control sends real images through
`to_working` / `to_original` below: the same functions and filters the generation stage uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PIL import Image

from ..sections import SIZINGS  # the `generation.sizing` policies, checked with the configuration

NATIVE, SQUARE = SIZINGS

# The one image filter between an original and a working size, both ways (PIL's resize antialiases when
# downscaling). Masks go with bilinear: they are binarised by the pipelines, never scored.
RESAMPLE = Image.Resampling.BICUBIC
MASK_RESAMPLE = Image.Resampling.BILINEAR
FILTER_NAME = "pil_bicubic"


@dataclass(frozen=True)
class Sizing:
    """What sizes a family's pipeline runs at.

    multiple: both sides must be multiples of it (VAE factor x transformer patch size; a pipeline given
        other sizes rounds them itself, resampling once more).
    buckets: the (width, height) sizes the model was trained at; one nearest the original in aspect
        ratio is used (scaled to the pixel budget when the configuration sets another). Empty: any size.
    native: the original's own size is used when it fits (multiple, within the budget). False: always
        scaled to the budget area (the pipeline resizes its input to that area itself).
    """

    multiple: int = 8
    buckets: tuple[tuple[int, int], ...] = ()
    native: bool = True

    def __post_init__(self) -> None:
        if self.multiple < 1 or any(w <= 0 or h <= 0 for w, h in self.buckets):
            raise ValueError(f"invalid sizing: multiple {self.multiple}, buckets {self.buckets}")


def _round(side: float, multiple: int) -> int:
    return max(multiple, int(round(side / multiple)) * multiple)


def _floor(side: int, multiple: int) -> int:
    return max(multiple, side // multiple * multiple)


def _bucket(sizing: Sizing, original: tuple[int, int]) -> tuple[int, int]:
    """The trained bucket nearest the original in aspect ratio w / h (ties: the first listed), the rule of
    diffusers' FluxKontextPipeline when it picks a bucket itself (`_auto_resize`)."""
    aspect = original[0] / original[1]
    return min(sizing.buckets, key=lambda b: abs(aspect - b[0] / b[1]))


def _scaled(size: tuple[float, float], area: float, multiple: int) -> tuple[int, int]:
    """The size at `area` pixels, aspect kept: of the nearest multiples below and above each side, the
    pair closest in aspect ratio within the area (the largest on a tie)."""
    scale = math.sqrt(area / (size[0] * size[1]))
    w, h = size[0] * scale, size[1] * scale
    pairs = [(a, b) for a in {_floor(int(w), multiple), multiple * math.ceil(w / multiple)}
             for b in {_floor(int(h), multiple), multiple * math.ceil(h / multiple)}]
    within = [p for p in pairs if p[0] * p[1] <= area] or pairs
    aspect = math.log(size[0] / size[1])
    return min(within, key=lambda p: (abs(math.log(p[0] / p[1]) - aspect), -p[0] * p[1]))


def _area_rounded(size: tuple[float, float], area: float, multiple: int) -> tuple[int, int]:
    """Each side at `area` pixels rounded to the multiple on its own, as Qwen-Image-Edit's pipeline does
    (`calculate_dimensions`); repeated until stable, as the pipeline recomputes it from what it is given."""
    out = (0, 0)
    for _ in range(4):
        ratio = size[0] / size[1]
        out = _round(math.sqrt(area * ratio), multiple), _round(math.sqrt(area * ratio) / ratio, multiple)
        if out == size:
            break
        size = out
    return out


def choose_working_size(sizing: Sizing, original: tuple[int, int], budget: int, default_budget: int,
                        policy: str = NATIVE) -> tuple[int, int]:
    """The (width, height) a family runs an original of size `original` at.

    budget: the side of the pixel budget (area budget**2); default_budget: the generator's own (its
    buckets are at that budget). square: (budget, budget), the old behaviour."""
    if policy not in SIZINGS:
        raise ValueError(f"generation.sizing must be one of {SIZINGS}, got '{policy}'")
    if policy == SQUARE:
        return budget, budget
    w, h = int(original[0]), int(original[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {w}x{h}")
    m, area = sizing.multiple, budget * budget
    if sizing.buckets:
        bw, bh = _bucket(sizing, (w, h))
        if budget != default_budget:  # e.g. the tiny profile's 64: the bucket's shape at that area
            return _scaled((bw, bh), area, m)
        return _floor(bw, m), _floor(bh, m)  # as the pipeline floors (Qwen-Image's 1140 -> 1136)
    if sizing.native and w % m == 0 and h % m == 0 and w * h <= area:
        return w, h
    if not sizing.native:
        return _area_rounded((w, h), area, m)
    if w * h > area:
        return _scaled((w, h), area, m)
    return _round(w, m), _round(h, m)  # smaller than the budget: the nearest multiples


def to_working(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """An RGB image at the working size (itself, untouched, when it is that size already)."""
    rgb = image.convert("RGB")
    return rgb if rgb.size == tuple(size) else rgb.resize(tuple(size), RESAMPLE)


def to_original(image: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A pipeline output back at the original's size (itself when it is that size already)."""
    return image if image.size == tuple(size) else image.resize(tuple(size), RESAMPLE)


def mask_to_working(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    gray = mask.convert("L")
    return gray if gray.size == tuple(size) else gray.resize(tuple(size), MASK_RESAMPLE)


def resample_record(original: tuple[int, int], working: tuple[int, int],
                    output: tuple[int, int]) -> tuple[bool, str | None]:
    """(resampled, filter) of one edit: the input was resized to the working size and/or the pipeline's
    output (of size `output`) back to the original's; filter 'down/up' names each direction's filter
    ('none' for a direction not taken), None when neither was."""
    into = tuple(original) != tuple(working)
    back = tuple(output) != tuple(original)
    if not (into or back):
        return False, None
    return True, f"{FILTER_NAME if into else 'none'}/{FILTER_NAME if back else 'none'}"


def resample_roundtrip(image: Image.Image, working: tuple[int, int]) -> Image.Image:
    """A real image down to a working size and back, exactly as an edit's pixels travel (the
    `resampled` control)."""
    rgb = image.convert("RGB")
    return to_original(to_working(rgb, working), rgb.size)
