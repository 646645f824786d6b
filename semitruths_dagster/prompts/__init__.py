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

from ..common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`), so that
# loading a light module of the package does not import the heavy ones.
_EXPORTS = {
    ".backends": (
        "BackendInfo", "BlipCaptioner", "Captioner", "CaptionQuery", "CaptionRewriter", "GenerationParams",
        "LabelPerturber", "LabelQuery", "LlavaPerturber", "LlmRewriter", "RuleBasedPerturber", "TemplateCaptioner",
        "make_captioner", "make_label_perturber", "make_rewriter",
    ),
    ".filters": ("FilterCutoffs", "apply_filters", "clip_score", "compute_cutoffs", "filter_rows", "percentile_window"),
    ".orchestrate": ("caption_images", "perturb_captions", "perturb_masks"),
    ".records": ("ImageRequest", "MaskRequest", "PromptRow", "request_id"),
    ".scoring": ("score_rows",),
    ".taxonomy": ("DEFINITIONS", "MAGNITUDES"),
    ".validation": ("validate_caption", "validate_label"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
