"""Backends by name, as a configuration names them: the model-backed ones load their role's model."""

from __future__ import annotations

from ...models import ModelRegistry
from .base import Captioner, CaptionRewriter, LabelPerturber
from .blip import BlipCaptioner
from .llava import LlavaPerturber
from .llm import LlmRewriter
from .rules import RuleBasedPerturber
from .template_captioner import TemplateCaptioner

LABEL_BACKENDS = ("llava", "rules")
CAPTIONERS = ("blip", "template")
REWRITERS = ("llm", "rules")


def _check(kind: str, name: str, known: tuple[str, ...]) -> None:
    if name not in known:
        raise ValueError(f"unknown {kind} '{name}' (known: {', '.join(known)})")


def make_label_perturber(name: str, registry: ModelRegistry) -> LabelPerturber:
    """'llava' (role `vlm`) or 'rules' (no model)."""
    _check("label perturber", name, LABEL_BACKENDS)
    return LlavaPerturber(registry.load("vlm")) if name == "llava" else RuleBasedPerturber()


def make_captioner(name: str, registry: ModelRegistry) -> Captioner:
    """'blip' (role `captioner`) or 'template' (captions from entity lists, no model)."""
    _check("captioner", name, CAPTIONERS)
    return BlipCaptioner(registry.load("captioner")) if name == "blip" else TemplateCaptioner()


def make_rewriter(name: str, registry: ModelRegistry) -> CaptionRewriter:
    """'llm' (role `llm`) or 'rules' (no model)."""
    _check("caption rewriter", name, REWRITERS)
    return LlmRewriter(registry.load("llm")) if name == "llm" else RuleBasedPerturber()
