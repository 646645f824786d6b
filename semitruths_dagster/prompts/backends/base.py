"""What a perturber, a caption rewriter and a captioner look like to the orchestration."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from ...models import LoadedModel, ModelRegistry


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


class Backend(ABC):
    """A prompt backend; `MODEL_ROLE` names the model role it runs on (None: no model)."""

    MODEL_ROLE: ClassVar[str | None] = None
    info: BackendInfo

    @classmethod
    def create(cls, models: ModelRegistry) -> Backend:
        """The backend with its role's model loaded (model-free backends take no arguments)."""
        return cls(models.load(cls.MODEL_ROLE)) if cls.MODEL_ROLE else cls()  # type: ignore[call-arg]


class LabelPerturber(Backend):
    """Answers label queries in a batch; `parse_label` turns a raw answer into the candidate label."""

    @abstractmethod
    def template_version(self, mode: str) -> str: ...

    @abstractmethod
    def perturb_labels(self, queries: Sequence[LabelQuery]) -> list[str]: ...

    @abstractmethod
    def parse_label(self, raw: str) -> str: ...


class CaptionRewriter(Backend):
    """Rewrites captions at a magnitude in a batch; `parse_caption` extracts the candidate caption."""

    @abstractmethod
    def template_version(self) -> str: ...

    @abstractmethod
    def rewrite_captions(self, queries: Sequence[CaptionQuery]) -> list[str]: ...

    @abstractmethod
    def parse_caption(self, raw: str) -> str: ...


class Captioner(Backend):
    """Writes one caption per image (path plus the entity classes of the image)."""

    template_version: str

    @abstractmethod
    def caption_images(
        self, image_paths: Sequence[str | None], entities: Sequence[Sequence[str]]
    ) -> list[str]: ...
