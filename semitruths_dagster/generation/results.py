"""One generated image and everything needed to reproduce it."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from PIL import Image

from ..metrics.saliency import is_black_image


@dataclass
class GenerationResult:
    """An edited image with its provenance.

    image: the output, resized back to the original image's size (`output_size`); `working_size` is the
        size the pipeline ran at.
    resampled: the input was resized to the working size or the output back to the original's size
        (False: the edit's pixels never went through an interpolation filter); resample_filter: 'in/out'
        filters (`sizing.FILTER_NAME`, 'none' for a direction not taken), None when not resampled.
    black: the output is completely black: the SD safety checker's replacement (or a failed generation).
    nsfw_flagged: what the pipeline's safety checker said (None when the pipeline has none).
    safety_checker: whether a safety checker ran (False for the tiny random-weight models and for p2p).
    random_weights: True for the tiny random-weight stand-ins: the image means nothing.
    params: method-specific parameters (strength, prior steps; every prompt-to-prompt setting).
    artifacts: in-memory extras not meant for tables (e.g. recorded attention maps); not in `record()`.
    """

    key: str
    image: Image.Image
    generator: str
    method: str
    ref: str
    hub_id: str | None
    random_weights: bool
    prompt: str
    negative_prompt: str | None
    seed: int
    steps: int
    guidance: float
    scheduler: str
    pipeline: str
    working_size: tuple[int, int]
    output_size: tuple[int, int]
    resampled: bool
    resample_filter: str | None
    black: bool
    nsfw_flagged: bool | None
    safety_checker: bool
    device: str
    dtype: str
    batch_size: int
    elapsed_s: float
    peak_gpu_memory_mb: float | None = None  # peak allocated GPU memory of the call (None off the GPU)
    params: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, Any] = field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        """Every field but the pixels and in-memory artifacts: one row of the generations table."""
        # Not dataclasses.asdict: it would deep-copy the image and any recorded attention tensors.
        row = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("image", "artifacts")}
        row["working_size"] = list(self.working_size)
        row["output_size"] = list(self.output_size)
        row["params"] = copy.deepcopy(self.params)
        return row


def is_black(image: Image.Image) -> bool:
    """True for a completely black image (every channel <= 5), as the SD safety checker outputs."""
    return bool(is_black_image(np.asarray(image.convert("RGB")))[0])


def as_size(size: int | tuple[int, int]) -> tuple[int, int]:
    """(width, height) from an int side or a pair; sides must be multiples of 8 (the VAE's factor)."""
    w, h = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    if w % 8 or h % 8 or w <= 0 or h <= 0:
        raise ValueError(f"working size must be positive multiples of 8, got {w}x{h}")
    return w, h
