"""The prompt backends by the name a configuration gives them: one registry per kind of backend.

A new backend: one module with a subclass of `LabelPerturber`, `Captioner` or `CaptionRewriter` (its
`MODEL_ROLE` names the model it runs on, if any), and one line in the matching registry below.
"""

from __future__ import annotations

from ...models import ModelRegistry
from ...registry import Registry
from .base import Captioner, CaptionRewriter, LabelPerturber
from .blip import BlipCaptioner
from .llava import LlavaPerturber
from .llm import LlmRewriter
from .rules import RuleBasedPerturber
from .template_captioner import TemplateCaptioner

LABEL_PERTURBERS: Registry[type[LabelPerturber]] = Registry(
    "label perturber", LabelPerturber, {"llava": LlavaPerturber, "rules": RuleBasedPerturber})
CAPTIONERS: Registry[type[Captioner]] = Registry(
    "captioner", Captioner, {"blip": BlipCaptioner, "template": TemplateCaptioner})
CAPTION_REWRITERS: Registry[type[CaptionRewriter]] = Registry(
    "caption rewriter", CaptionRewriter, {"llm": LlmRewriter, "rules": RuleBasedPerturber})


def make_label_perturber(name: str, models: ModelRegistry) -> LabelPerturber:
    return LABEL_PERTURBERS[name].create(models)


def make_captioner(name: str, models: ModelRegistry) -> Captioner:
    return CAPTIONERS[name].create(models)


def make_rewriter(name: str, models: ModelRegistry) -> CaptionRewriter:
    return CAPTION_REWRITERS[name].create(models)
