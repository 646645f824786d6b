"""Requests in, rows out: the records of the perturbed-prompts stage, their ids and their seeds."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

METHODS = ("inpainting", "p2p")


@dataclass(frozen=True)
class MaskRequest:
    """One mask to perturb (inpainting): its label and the image it belongs to."""

    dataset: str
    image_id: str
    mask_id: str
    label: str
    image_path: str | None = None
    mask_path: str | None = None
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageRequest:
    """One image whose caption to perturb (prompt-based editing); `caption` skips the captioner."""

    dataset: str
    image_id: str
    image_path: str | None = None
    entities: tuple[str, ...] = ()
    caption: str | None = None


@dataclass
class PromptRow:
    """One edit request and its outcome. Similarity and filter columns stay None until scored/filtered.

    rejection_reasons: 'attempt N: <reason code>' for every rule every failed attempt broke.
    filter_reasons: dataset-level filters the row failed (CLIPScore, CLIP text similarity window).
    kept: valid and passed the filters (None until the filters ran).
    random_weights: the text came from a random-weight (tiny) model: meaningless, for plumbing only.
    """

    request_id: str
    dataset: str
    image_id: str
    mask_id: str | None
    method: str
    original: str
    magnitude: str
    perturbed: str | None
    edit_mode: str
    backend: str
    model_ref: str | None
    model_revision: str | None
    random_weights: bool
    template_version: str
    seed: int
    attempts: int
    valid: bool
    rejection_reasons: list[str] = field(default_factory=list)
    raw_output: str | None = None
    slot: int = 0
    image_path: str | None = None
    mask_path: str | None = None
    caption_model: str | None = None  # p2p: the captioner that wrote `original`
    sentence_similarity: float | None = None
    clip_text_similarity: float | None = None
    clip_score: float | None = None
    filter_reasons: list[str] = field(default_factory=list)
    kept: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def request_id(*parts: Any) -> str:
    """A stable id (16 hex digits of SHA-256) of the parts that define a request."""
    blob = json.dumps(list(parts), sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
