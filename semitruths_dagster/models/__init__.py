"""Models of the pipeline: profiles (paper / tiny / local overrides) and loading; the tiny random-weight builds live in `random_weights`.

No Dagster here. `ModelRegistry(profile, overrides, tiny_root).load(role)` (or `ModelRegistry.of(ModelSource(...))`) is the
usual entry point; `resolve_model(role, source)` resolves without loading.
"""

from ..common import lazy_exports

# submodule -> the names this package gives; imported on first use (`common.lazy_exports`), so that
# loading a light module of the package does not import the heavy ones.
_EXPORTS = {
    "..hub": ("PROFILES", "TINY_MARKER", "ModelRef", "ModelSource", "ModelUnavailableError"),
    ".encoders": (
        "clip_image_embeddings", "clip_text_embeddings", "hf_clip_features", "paired_cosine", "sentence_embeddings",
    ),
    ".handle": ("LoadedModel",),
    ".loader": ("ModelRegistry", "clear_model_cache", "load_model", "resolve_device", "resolve_dtype"),
    ".profiles": ("PAPER_MODELS", "ROLE_FAMILIES", "ROLES", "resolve_model"),
    "..random_weights.roles": ("TINY_RECIPE_VERSION", "ensure_tiny", "tiny_dir"),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(name for names in _EXPORTS.values() for name in names)
