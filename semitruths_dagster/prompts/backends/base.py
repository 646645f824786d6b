"""What a perturber, a caption rewriter and a captioner look like to the orchestration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ...models import LoadedModel


@dataclass(frozen=True)
class LabelQuery:
    """One request for a perturbed mask label: which mode was asked ('alter' / 'replace') is part of it."""

    label: str
    magnitude: str
    mode: str
    seed: int
    image_path: str | None = None
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class CaptionQuery:
    """One request for a caption rewritten at a magnitude."""

    caption: str
    magnitude: str
    seed: int
    entities: tuple[str, ...] = ()


@dataclass(frozen=True)
class BackendInfo:
    """Provenance of a backend, copied into every row it produces."""

    name: str
    model_ref: str | None = None
    model_revision: str | None = None
    random_weights: bool = False

    @classmethod
    def of_model(cls, name: str, handle: LoadedModel) -> BackendInfo:
        return cls(name, handle.name, handle.revision, handle.random_weights)


@runtime_checkable
class LabelPerturber(Protocol):
    """Answers label queries in a batch; `parse_label` turns a raw answer into the candidate label."""

    info: BackendInfo

    def template_version(self, mode: str) -> str: ...

    def perturb_labels(self, queries: Sequence[LabelQuery]) -> list[str]: ...

    def parse_label(self, raw: str) -> str: ...


@runtime_checkable
class CaptionRewriter(Protocol):
    """Rewrites captions at a magnitude in a batch; `parse_caption` extracts the candidate caption."""

    info: BackendInfo

    def template_version(self) -> str: ...

    def rewrite_captions(self, queries: Sequence[CaptionQuery]) -> list[str]: ...

    def parse_caption(self, raw: str) -> str: ...


@runtime_checkable
class Captioner(Protocol):
    """Writes one caption per image (path plus the entity classes of the image)."""

    info: BackendInfo
    template_version: str

    def caption_images(
        self, image_paths: Sequence[str | None], entities: Sequence[Sequence[str]]
    ) -> list[str]: ...
