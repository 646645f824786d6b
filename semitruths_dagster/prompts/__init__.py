"""Perturbed prompts (paper 3.1, 3.2, B.1, E): ask for small / medium / large semantic edits of mask labels
and captions, validate them with retries, score and filter them.

Typical use (no Dagster here):

    registry = ModelRegistry(profile, overrides, tiny_root)
    rows = perturb_masks(masks, LlavaPerturber(registry.load("vlm")), seed=0)    # or RuleBasedPerturber()
    rows += perturb_captions(images, BlipCaptioner(registry.load("captioner")),
                             LlmRewriter(registry.load("llm")), seed=0)
    rows = score_rows(rows, sentence=registry.load("sentence"), clip=registry.load("clip"))
    rows, cutoffs = filter_rows(rows)   # percentiles over all rows given, or fixed thresholds
"""

from .backends import (
    BackendInfo,
    BlipCaptioner,
    Captioner,
    CaptionQuery,
    CaptionRewriter,
    GenerationParams,
    LabelPerturber,
    LabelQuery,
    LlavaPerturber,
    LlmRewriter,
    RuleBasedPerturber,
    TemplateCaptioner,
    make_captioner,
    make_label_perturber,
    make_rewriter,
)
from .filters import FilterCutoffs, apply_filters, clip_score, compute_cutoffs, filter_rows, percentile_window
from .orchestrate import caption_images, perturb_captions, perturb_masks
from .records import ImageRequest, MaskRequest, PromptRow, derive_seed, request_id
from .scoring import score_rows
from .taxonomy import DEFINITIONS, MAGNITUDES
from .validation import validate_caption, validate_label

__all__ = [
    "DEFINITIONS",
    "MAGNITUDES",
    "BackendInfo",
    "BlipCaptioner",
    "CaptionQuery",
    "CaptionRewriter",
    "Captioner",
    "FilterCutoffs",
    "GenerationParams",
    "ImageRequest",
    "LabelPerturber",
    "LabelQuery",
    "LlavaPerturber",
    "LlmRewriter",
    "MaskRequest",
    "PromptRow",
    "RuleBasedPerturber",
    "TemplateCaptioner",
    "apply_filters",
    "caption_images",
    "clip_score",
    "compute_cutoffs",
    "derive_seed",
    "filter_rows",
    "percentile_window",
    "perturb_captions",
    "perturb_masks",
    "request_id",
    "score_rows",
    "validate_caption",
    "validate_label",
    "make_captioner",
    "make_label_perturber",
    "make_rewriter",
]
