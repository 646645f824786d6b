"""Source adapters (`adapters.SOURCE_ADAPTERS`) and what they return (`base`)."""

from __future__ import annotations

from .adapters import SOURCE_ADAPTERS, automatic_masks, list_source
from .base import ImageEntry, MaskEntry, Rejection, SourceAdapter, SourceListing
from .standardized import SourceError

__all__ = [
    "SOURCE_ADAPTERS", "ImageEntry", "MaskEntry", "Rejection", "SourceAdapter", "SourceError", "SourceListing",
    "automatic_masks", "list_source",
]
