"""Perturber, rewriter and captioner backends: model-backed (LLaVA, LLM, BLIP) and model-free (rules,
template captions)."""

from ...common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`), so that
# loading a light module of the package does not import the heavy ones.
_EXPORTS = {
    ".base": ("BackendInfo", "Captioner", "CaptionQuery", "CaptionRewriter", "LabelPerturber", "LabelQuery"),
    ".blip": ("BlipCaptioner",),
    ".factory": (
        "CAPTION_REWRITERS", "CAPTIONERS", "LABEL_PERTURBERS", "make_captioner", "make_label_perturber",
        "make_rewriter",
    ),
    ".generation": ("GenerationParams",),
    ".llava": ("LLAVA_GENERATION", "LlavaPerturber"),
    ".llm": ("LLM_GENERATION", "LlmRewriter"),
    ".rules": ("RuleBasedPerturber", "perturb_label", "rewrite_caption"),
    ".template_captioner": ("TemplateCaptioner", "template_caption"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
