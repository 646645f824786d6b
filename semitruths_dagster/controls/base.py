"""What a control kind is (`ControlKind`) and what it is made from (`ControlInputs`).

Each kind says what it is made from (`source`: every real image, every edit, or every inpainting edit with
its soft mask), its label, what the evaluation compares it with (`compared_with`: the real images or the
edits) and what a detector's response to it means (shown beside it in every report).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PIL import Image

SOURCES = ("real", "edit", "inpainting_edit")


@dataclass
class ControlInputs:
    """What a control is made from: the real image, the edit and the soft mask where the kind takes them,
    the generator's VAE (loaded on first call) and its working size for an original size."""

    original: Image.Image
    edited: Image.Image | None = None
    mask: Image.Image | None = None
    vae: Callable[[], Any] | None = None
    working_size: Callable[[tuple[int, int]], tuple[int, int]] | None = None


@dataclass(frozen=True)
class ControlKind:
    """One control. make(inputs) -> (image, or encoded bytes with provenance['format'], provenance).
    noun: what the control's images are, in a report's sentence ("resampled reals").
    uses_vae: its row records the VAE. needs_resampling: made only for the real images the generator
    resamples (for the others it would be the real image itself)."""

    name: str
    source: str
    label: int
    compared_with: str
    meaning: str
    make: Callable[[ControlInputs], tuple[Image.Image | bytes, dict[str, Any]]]
    noun: str = ""
    uses_vae: bool = False
    needs_resampling: bool = False

    def __post_init__(self) -> None:
        if self.source not in SOURCES or self.label not in (0, 1) or self.compared_with not in ("real", "edits"):
            raise ValueError(f"control '{self.name}': source {self.source!r} (one of {SOURCES}), label "
                             f"{self.label!r} (0 or 1), compared_with {self.compared_with!r} (real or edits)")
