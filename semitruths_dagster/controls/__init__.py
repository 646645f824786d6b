"""Confound controls (see `kinds` for each one, `images` / `resampled` for how they are made, `stage` for
the resumable stage)."""

from .base import ControlInputs, ControlKind
from .images import estimate_jpeg_quality, format_matched, paste_back, vae_roundtrip
from .kinds import CONTROLS
from .resampled import resampled

__all__ = ["CONTROLS", "ControlInputs", "ControlKind", "estimate_jpeg_quality", "format_matched", "paste_back",
           "resampled", "vae_roundtrip"]
