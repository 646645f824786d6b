"""Perturber, rewriter and captioner backends: model-backed (LLaVA, LLM, BLIP) and model-free (rules,
template captions)."""

from .base import BackendInfo, Captioner, CaptionQuery, CaptionRewriter, LabelPerturber, LabelQuery
from .blip import BlipCaptioner
from .factory import (
    CAPTION_REWRITERS,
    CAPTIONERS,
    LABEL_PERTURBERS,
    make_captioner,
    make_label_perturber,
    make_rewriter,
)
from .generation import GenerationParams
from .llava import LLAVA_GENERATION, LlavaPerturber
from .llm import LLM_GENERATION, LlmRewriter
from .rules import RuleBasedPerturber, perturb_label, rewrite_caption
from .template_captioner import TemplateCaptioner, template_caption

__all__ = [
    "CAPTIONERS",
    "CAPTION_REWRITERS",
    "LABEL_PERTURBERS",
    "make_captioner",
    "make_label_perturber",
    "make_rewriter",
    "LLAVA_GENERATION",
    "LLM_GENERATION",
    "BackendInfo",
    "BlipCaptioner",
    "CaptionQuery",
    "CaptionRewriter",
    "Captioner",
    "GenerationParams",
    "LabelPerturber",
    "LabelQuery",
    "LlavaPerturber",
    "LlmRewriter",
    "RuleBasedPerturber",
    "TemplateCaptioner",
    "perturb_label",
    "rewrite_caption",
    "template_caption",
]
