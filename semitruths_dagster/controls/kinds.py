"""The control kinds: a new control is one module with its `make` function plus one entry in `CONTROLS`."""

from __future__ import annotations

from typing import Any

from PIL import Image

from ..registry import Registry
from .base import ControlInputs, ControlKind
from .images import format_matched, paste_back, vae_roundtrip
from .resampled import resampled


def _vae_roundtrip(inputs: ControlInputs) -> tuple[Image.Image, dict[str, Any]]:
    return vae_roundtrip(inputs.vae(), inputs.original), {}


def _pasted_back(inputs: ControlInputs) -> tuple[Image.Image, dict[str, Any]]:
    return paste_back(inputs.original, inputs.edited, inputs.mask), {}


def _format_matched(inputs: ControlInputs) -> tuple[bytes, dict[str, Any]]:
    return format_matched(inputs.edited, inputs.original)


CONTROLS: Registry[ControlKind] = Registry("control", ControlKind, {c.name: c for c in (
    ControlKind("vae_roundtrip", "real", 0, "real",
                "real images encoded and decoded by a generator's VAE, no edit: the share flagged is the "
                "false-positive rate for 'touched by the pipeline'; near the edits' recall means the "
                "detector sees the VAE, not the edit", _vae_roundtrip,
                noun="VAE round-tripped reals", uses_vae=True),
    ControlKind("pasted_back", "inpainting_edit", 1, "edits",
                "edits with the original pixels restored outside the mask: a recall far below the edits' "
                "means the detector responds to the VAE traces outside the edit, not to the edit", _pasted_back,
                noun="pasted-back edits"),
    ControlKind("format_matched", "edit", 1, "edits",
                "edits saved in their original's format and JPEG quality: a recall far below the edits' "
                "means the detector tells PNG edits from JPEG reals by the file format", _format_matched,
                noun="format-matched edits"),
    ControlKind("resampled", "real", 0, "real",
                "real images resized to the generator's working size and back with the generation stage's "
                "filters, no edit: the share flagged is the false-positive rate for 'resampled'; far above "
                "the reals' means the detector flags the resizing, not the edit", resampled,
                noun="resampled reals", needs_resampling=True),
)})
