"""Generations: inpainting, prompt-to-prompt and instruction editing across diffusion models (no Dagster).

`resolve_generator(name, hub.ModelSource(profile, overrides, tiny_root))` -> `hub.ModelRef`; `load_pipeline(ref, method,
settings)` -> `LoadedPipeline` (cached per process); `inpaint(loaded, items)`, `edit(loaded, items)` and
`instruct(loaded, items)` yield `GenerationResult`s.
"""

from ..common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`), so that
# loading a light module of the package does not import the heavy ones.
_EXPORTS = {
    ".acceleration": ("ATTENTION_CHOICES", "peak_memory"),
    ".families": ("FAMILIES", "Family"),
    ".inpaint": ("InpaintItem",),  # `inpaint` / `instruct`: import them from their submodules
    ".instruct": ("InstructItem",),
    ".loading": ("LoadedPipeline", "clear_pipeline_cache", "load_pipeline"),
    ".p2p": ("EditItem", "P2PParams", "edit"),
    ".registry": (
        "GENERATION_TINY_VERSION", "GENERATORS", "INPAINTING", "INSTRUCTION", "METHODS", "P2P", "PAPER_GENERATORS",
        "GeneratorSpec", "generator_spec", "generators_for", "resolve_generator", "tiny_generator_dir",
    ),
    ".results": ("GenerationResult", "is_black"),
    ".settings": ("DeviceSettings",),
    ".tiny": ("ensure_tiny_generator",),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
