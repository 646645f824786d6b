"""Generations: inpainting, prompt-to-prompt and instruction editing across diffusion models (no Dagster).

`resolve_generator(name, profile, overrides, tiny_root)` -> `hub.ModelRef`; `load_pipeline(ref, method,
settings)` -> `LoadedPipeline` (cached per process); `inpaint(loaded, items)`, `edit(loaded, items)` and
`instruct(loaded, items)` yield `GenerationResult`s.
"""

from .acceleration import ATTENTION_CHOICES, peak_memory
from .clip_tokenizer import clip_tokenizer
from .families import FAMILIES, Family
from .inpaint import InpaintItem, inpaint
from .instruct import InstructItem, instruct
from .loading import LoadedPipeline, clear_pipeline_cache, load_pipeline
from .p2p import EditItem, P2PParams, edit
from .registry import (
    GENERATION_TINY_VERSION,
    GENERATORS,
    INPAINTING,
    INSTRUCTION,
    METHODS,
    P2P,
    PAPER_GENERATORS,
    GeneratorSpec,
    generator_spec,
    generators_for,
    resolve_generator,
    tiny_generator_dir,
)
from .results import GenerationResult, is_black
from .settings import DeviceSettings
from .tiny import ensure_tiny_generator

__all__ = [
    "FAMILIES",
    "Family",
    "ATTENTION_CHOICES",
    "GENERATION_TINY_VERSION",
    "GENERATORS",
    "INPAINTING",
    "INSTRUCTION",
    "METHODS",
    "P2P",
    "PAPER_GENERATORS",
    "DeviceSettings",
    "EditItem",
    "GenerationResult",
    "GeneratorSpec",
    "InpaintItem",
    "InstructItem",
    "LoadedPipeline",
    "P2PParams",
    "clear_pipeline_cache",
    "clip_tokenizer",
    "edit",
    "ensure_tiny_generator",
    "generator_spec",
    "generators_for",
    "inpaint",
    "instruct",
    "is_black",
    "load_pipeline",
    "peak_memory",
    "resolve_generator",
    "tiny_generator_dir",
]
