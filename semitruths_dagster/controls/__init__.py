"""Confound controls (see `images` for what each one is, `stage` for the resumable stage)."""

from .images import CONTROLS, estimate_jpeg_quality, format_matched, paste_back, vae_roundtrip

__all__ = ["CONTROLS", "estimate_jpeg_quality", "format_matched", "paste_back", "vae_roundtrip"]
