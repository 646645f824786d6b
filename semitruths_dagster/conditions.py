"""Post-processing conditions: what images meet in the wild (JPEG, resizing, blur, noise, crops).

A condition is a name from the `conditions` section of semitruths.yaml, parsed and checked when the
configuration loads (an unknown name, `jpeg_q150`, `resize_0` are errors naming the key, before any
run). Names: `clean`, `jpeg_q{1-100}`, `webp_q{1-100}`, `resize_{s}` (bicubic to s x the size and
back), `blur_sigma_{s}`, `noise_std_{s}` (Gaussian, on the [0, 1] scale), `crop_{f}` (centre crop
keeping f of each side), and combinations joined by `+` applied left to right (`jpeg75+resize0.5`:
the underscores and the `q` are optional). A condition is applied identically to real and edited
images, before each detector's own preprocessing; its randomness is seeded by (seed, condition,
image hash), never by the label, so the same image gives the same bytes on every run.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.util import random_noise

from .common import derive_seed
from .schema import DETECTOR_NAME_RE

CLEAN = "clean"
MIN_SCALE = 0.05  # below this a 256-pixel side shrinks to under 13 pixels: no image is left to judge
MIN_CROP = 0.1
# op -> (regex of one step, parameter type, allowed range (inclusive), what the parameter is)
_STEPS: dict[str, tuple[re.Pattern, type, tuple[float, float], str]] = {
    "jpeg": (re.compile(r"^jpeg_?q?(\d+)$"), int, (1, 100), "JPEG quality"),
    "webp": (re.compile(r"^webp_?q?(\d+)$"), int, (1, 100), "WebP quality"),
    "resize": (re.compile(r"^resize_?(\d*\.?\d+)$"), float, (MIN_SCALE, 4.0), "scale factor"),
    "blur": (re.compile(r"^blur_?sigma_?(\d*\.?\d+)$"), float, (0.0, 25.0), "Gaussian sigma in pixels"),
    "noise": (re.compile(r"^noise_?std_?(\d*\.?\d+)$"), float, (0.0, 1.0), "noise std on the [0, 1] scale"),
    "crop": (re.compile(r"^crop_?(\d*\.?\d+)$"), float, (MIN_CROP, 1.0), "share of each side kept"),
}
_ALL_OPS = ", ".join(["clean", "jpeg_q{1-100}", "webp_q{1-100}", "resize_{0.05-4}", "blur_sigma_{s}",
                      "noise_std_{0-1}", "crop_{0.1-1}", "and a+b combinations"])


class ConditionError(ValueError):
    """A condition name or the `conditions` section breaks a rule (a ConfigError once the file is named)."""


class ConditionFailed(RuntimeError):
    """One image could not be put through a condition (it is quarantined; the others go on)."""


@dataclass(frozen=True)
class Step:
    op: str
    value: float


@dataclass(frozen=True)
class Condition:
    """A parsed condition: its name as written and its steps (none for `clean`)."""

    name: str
    steps: tuple[Step, ...] = ()

    @property
    def is_clean(self) -> bool:
        return not self.steps

    @property
    def signature(self) -> str:
        """Canonical form (`jpeg75` and `jpeg_q75` are one condition): part of the score cache key."""
        return "+".join(f"{s.op}:{s.value:g}" for s in self.steps) or CLEAN

    def apply(self, image: Image.Image, seed: int, image_sha256: str) -> Image.Image:
        """The image after every step; raises ConditionFailed when nothing (or no image) is left."""
        out = image.convert("RGB")
        try:
            for i, step in enumerate(self.steps):
                out = _APPLY[step.op](out, step.value, derive_seed(seed, self.signature, i, image_sha256))
        except ConditionFailed:
            raise
        except Exception as exc:  # a codec failing on one image: that image is quarantined
            raise ConditionFailed(f"condition {self.name!r} failed: {type(exc).__name__}: {exc}") from exc
        if min(out.size) < 1:
            raise ConditionFailed(f"condition {self.name!r} left an empty image (size {out.size})")
        return out


def parse_condition(name: str, where: str = "conditions") -> Condition:
    """One condition from its name; a ConditionError naming `where` and the rule broken otherwise."""
    if not isinstance(name, str) or not name.strip():
        raise ConditionError(f"{where}: a condition name must be a non-empty string, got {name!r}")
    if name == CLEAN:
        return Condition(name)
    steps = []
    for part in name.split("+"):
        steps.append(_parse_step(part.strip(), name, where))
    return Condition(name, tuple(steps))


def _parse_step(part: str, name: str, where: str) -> Step:
    for op, (pattern, kind, (low, high), what) in _STEPS.items():
        match = pattern.match(part)
        if not match:
            continue
        value = kind(float(match.group(1)))
        if not low <= value <= high or (kind is float and value == 0 and op in ("blur", "noise")):
            empty = " (it would leave an empty image)" if op in ("resize", "crop") and value < low else ""
            raise ConditionError(f"{where}: condition {name!r}: {what} {match.group(1)} is outside "
                              f"[{low:g}, {high:g}]{empty}")
        return Step(op, float(value))
    raise ConditionError(f"{where}: unknown condition {name!r} (step {part!r}); known: {_ALL_OPS}")


def _jpeg(image: Image.Image, quality: float, _seed: int) -> Image.Image:
    return _reencode(image, "JPEG", quality=int(quality))


def _webp(image: Image.Image, quality: float, _seed: int) -> Image.Image:
    return _reencode(image, "WEBP", quality=int(quality), method=4)


def _reencode(image: Image.Image, fmt: str, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def _resize(image: Image.Image, scale: float, _seed: int) -> Image.Image:
    w, h = image.size
    small = (round(w * scale), round(h * scale))
    if min(small) < 1:
        raise ConditionFailed(f"resize {scale:g} of a {w}x{h} image is empty")
    return image.resize(small, Image.Resampling.BICUBIC).resize((w, h), Image.Resampling.BICUBIC)


def _blur(image: Image.Image, sigma: float, _seed: int) -> Image.Image:
    pixels = ndimage.gaussian_filter(np.asarray(image, dtype=np.float32), sigma=(sigma, sigma, 0))
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8))


def _noise(image: Image.Image, std: float, seed: int) -> Image.Image:
    noisy = random_noise(np.asarray(image), mode="gaussian", var=std**2, rng=seed, clip=True)
    return Image.fromarray(np.rint(noisy * 255).astype(np.uint8))


def _crop(image: Image.Image, share: float, _seed: int) -> Image.Image:
    w, h = image.size
    cw, ch = round(w * share), round(h * share)
    if min(cw, ch) < 1:
        raise ConditionFailed(f"crop {share:g} of a {w}x{h} image is empty")
    left, top = (w - cw) // 2, (h - ch) // 2
    return image.crop((left, top, left + cw, top + ch))


_APPLY = {"jpeg": _jpeg, "webp": _webp, "resize": _resize, "blur": _blur, "noise": _noise, "crop": _crop}


@dataclass(frozen=True)
class ConditionParams:
    """The `conditions` section of semitruths.yaml.

    `names`: every condition the detectors are judged under (`clean` is always added first).
    `per_detector`: detector name -> the subset it runs (default: all of `names`). The names are the specs'
        in the registry folder, which can change between runs: the file's load checks their format
        (`DETECTOR_NAME_RE`), the detector's run finds its own entry by name.
    `seed`: seed of the conditions' randomness (noise); the project's seed when absent."""

    names: tuple[str, ...] = (CLEAN,)
    per_detector: dict[str, list[str]] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.names, str) or not isinstance(self.names, Sequence):
            raise ConditionError(f"conditions.names: expected a list of condition names, got {self.names!r}")
        names = tuple(dict.fromkeys([CLEAN, *self.names]))
        object.__setattr__(self, "names", names)
        parsed = {n: parse_condition(n, f"conditions.names[{n!r}]") for n in names}
        seen: dict[str, str] = {}
        for n, c in parsed.items():
            if c.signature in seen:
                raise ConditionError(f"conditions.names: {n!r} is the same condition as {seen[c.signature]!r}")
            seen[c.signature] = n
        if not isinstance(self.per_detector, dict):
            raise ConditionError("conditions.per_detector: expected a mapping detector -> list of conditions")
        for detector, subset in self.per_detector.items():
            if not isinstance(detector, str) or not DETECTOR_NAME_RE.match(detector):
                raise ConditionError(f"conditions.per_detector.{detector}: not a detector name (a spec name "
                                     f"matching {DETECTOR_NAME_RE.pattern})")
            if isinstance(subset, str) or not isinstance(subset, Sequence):
                raise ConditionError(f"conditions.per_detector.{detector}: expected a list, got {subset!r}")
            unknown = [s for s in subset if s not in parsed]
            if unknown:
                raise ConditionError(f"conditions.per_detector.{detector}: {unknown} not in conditions.names "
                                  f"{list(names)}")

    def conditions(self) -> list[Condition]:
        return [parse_condition(n) for n in self.names]

    def for_detector(self, detector: str) -> list[Condition]:
        """The conditions one detector runs (`clean` always among them, first)."""
        subset = self.per_detector.get(detector)
        wanted = self.names if subset is None else [CLEAN, *subset]
        return [parse_condition(n) for n in dict.fromkeys(wanted)]

    def seed_or(self, project_seed: int) -> int:
        return project_seed if self.seed is None else int(self.seed)
