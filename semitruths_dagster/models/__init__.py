"""Models of the pipeline: profiles (paper / tiny / local overrides), tiny random-weight builds, loading.

No Dagster here. `ModelRegistry(profile, overrides, tiny_root).load(role)` is the usual entry point.
"""

from ..hub import PROFILES, TINY_MARKER, ModelRef, ModelUnavailableError
from .encoders import (
    clip_image_embeddings,
    clip_text_embeddings,
    hf_clip_features,
    paired_cosine,
    sentence_embeddings,
)
from .handle import LoadedModel
from .loader import ModelRegistry, clear_model_cache, load_model, resolve_device, resolve_dtype
from .profiles import PAPER_MODELS, ROLE_FAMILIES, ROLES, resolve_model
from .tiny import TINY_RECIPE_VERSION, ensure_tiny, tiny_dir

__all__ = [
    "PAPER_MODELS",
    "PROFILES",
    "ROLES",
    "ROLE_FAMILIES",
    "TINY_MARKER",
    "TINY_RECIPE_VERSION",
    "LoadedModel",
    "ModelRef",
    "ModelRegistry",
    "ModelUnavailableError",
    "clear_model_cache",
    "clip_image_embeddings",
    "clip_text_embeddings",
    "ensure_tiny",
    "hf_clip_features",
    "load_model",
    "paired_cosine",
    "resolve_device",
    "resolve_dtype",
    "resolve_model",
    "sentence_embeddings",
    "tiny_dir",
]
