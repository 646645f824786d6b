"""Load a generator's diffusers pipeline once per process, from a hub id, a local copy or a tiny folder.

Inpainting goes through `AutoPipelineForInpainting.from_pretrained` (for the SD 1.x text-to-image
checkpoints that is StableDiffusionInpaintPipeline on a 4-channel UNet; for Kandinsky 2.2 the combined
prior + decoder pipeline). Prompt-based editing loads `StableDiffusionPipeline.from_pretrained` and uses
its components. Weights load from safetensors only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..hub import CACHE, ModelRef, ModelUnavailableError, is_random
from ..load_checks import HF_FIX, WeightMismatchError, strict_loading
from .acceleration import apply_attention, compile_denoiser, place
from .quiet import quiet_progress
from .registry import INPAINTING, METHODS, P2P, generator_spec
from .settings import DeviceSettings
from .tiny import ensure_tiny_generator


def _unavailable(ref: ModelRef, cause: BaseException | str) -> ModelUnavailableError:
    """The error naming the generator's licence, and whether its hub id is gated."""
    spec = generator_spec(ref.generator)
    return ModelUnavailableError(ref, cause, licence=spec.licence, gated=spec.gated and ref.ref == spec.hub_id)


@dataclass
class LoadedPipeline:
    """A pipeline ready to run, with everything a result must record about it."""

    pipe: Any
    generator: str
    method: str
    ref: ModelRef
    device: torch.device
    dtype: torch.dtype
    settings: DeviceSettings
    random_weights: bool
    safety_checker: bool
    compiled: bool
    load_s: float
    notes: list[str] = field(default_factory=list)

    @property
    def family(self) -> str:
        return generator_spec(self.generator).family

    @property
    def pipeline_class(self) -> str:
        return type(self.pipe).__name__


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def _check_available(ref: ModelRef) -> None:
    """Fail fast, before diffusers starts, when the ref cannot possibly load."""
    if ref.source == "tiny":
        return
    if not ref.is_hub:
        if not (Path(ref.ref) / "model_index.json").is_file():
            raise _unavailable(ref, "no model_index.json in that directory")
        return
    spec = generator_spec(ref.generator)
    gated = spec.gated and ref.ref == spec.hub_id
    if _offline() or gated:  # a gated model fails at once, online too, unless already downloaded
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(ref.ref, "model_index.json", revision=ref.revision)
        if not isinstance(found, str):
            raise _unavailable(ref, "gated and not in the local hub cache" if gated else "not in the local hub cache")


def _from_pretrained(ref: ModelRef, method: str, dtype: torch.dtype) -> Any:
    import diffusers
    from diffusers import AutoPipelineForInpainting, StableDiffusionPipeline
    from diffusers.utils import deprecation_utils

    # diffusers renamed `torch_dtype` to `dtype` (the old name still works there, with a warning).
    dtype_key = "dtype" if hasattr(deprecation_utils, "_resolve_dtype") else "torch_dtype"
    kwargs: dict[str, Any] = {dtype_key: dtype, "use_safetensors": True}
    if ref.is_hub and ref.revision:
        kwargs["revision"] = ref.revision
    pipeline = generator_spec(ref.generator).facts.pipelines.get(method)
    if pipeline is not None:  # the family's own pipeline class (FLUX, SD 3.5, Qwen-Image, instruction editors)
        return getattr(diffusers, pipeline).from_pretrained(ref.ref, **kwargs)
    if method == INPAINTING:
        return AutoPipelineForInpainting.from_pretrained(ref.ref, **kwargs)
    # Prompt-to-prompt decodes latents itself: the safety checker is never run, so it is not loaded.
    return StableDiffusionPipeline.from_pretrained(
        ref.ref, safety_checker=None, requires_safety_checker=False, **kwargs
    )


def load_pipeline(ref: ModelRef, method: str, settings: DeviceSettings | None = None) -> LoadedPipeline:
    """Load (once per process, keyed by generator, method, ref and settings) a generator's pipeline.

    A tiny ref is built first if missing. Raises ModelUnavailableError for a hub id that is not
    reachable or cached, or a folder without a pipeline.
    """
    settings = settings or DeviceSettings()
    spec = generator_spec(ref.generator)
    if method not in METHODS or method not in spec.methods:
        raise ValueError(f"generator '{ref.generator}' does not support method '{method}' ({spec.methods})")
    key = ("pipeline", ref.generator, method, ref.ref, ref.revision, *settings.cache_key())
    return CACHE.get_or_load(key, lambda: _load(ref, method, settings))


def pipeline_dtype(settings: DeviceSettings, generator: str) -> torch.dtype:
    """The settings' dtype; 'auto' on a GPU is bf16 for large transformers (they overflow in fp16 and are
    published in bf16), fp16 for the others."""
    if settings.dtype == "auto" and settings.torch_device().type == "cuda" and generator_spec(generator).large:
        return torch.bfloat16
    return settings.torch_dtype()


def _load(ref: ModelRef, method: str, settings: DeviceSettings) -> LoadedPipeline:
    start = time.perf_counter()
    if ref.source == "tiny":
        ensure_tiny_generator(Path(ref.ref).parent, ref.generator)
    _check_available(ref)
    device, dtype = settings.torch_device(), pipeline_dtype(settings, ref.generator)
    spec = generator_spec(ref.generator)
    try:
        # A pipeline whose parts differ from their weights (missing / unused keys) is an error, not a log line.
        with quiet_progress(), strict_loading(ref.what, HF_FIX):
            pipe = _from_pretrained(ref, method, dtype)
    except WeightMismatchError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # not cached, unreachable, or a bad folder
        raise _unavailable(ref, f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    pipe.set_progress_bar_config(disable=True)
    notes: list[str] = []
    if spec.scheduler:
        import diffusers

        pipe.scheduler = getattr(diffusers, spec.scheduler).from_config(pipe.scheduler.config)
    # Prompt-to-prompt calls the VAE and UNet directly (and differentiates through the UNet), which
    # offload hooks do not support; an SD 1.x UNet fits on any GPU that runs it anyway.
    offload = settings.cpu_offload and method != P2P
    place(pipe, device, offload)
    if settings.cpu_offload and (device.type != "cuda" or not offload):
        notes.append("cpu_offload ignored: " + ("not on a GPU" if device.type != "cuda" else "p2p"))
    apply_attention(pipe, settings.attention)
    compiled = False
    if settings.compile_unet and method != P2P:
        compile_denoiser(pipe, settings.compile_mode)
        compiled = True
    elif settings.compile_unet:
        notes.append("compile_unet ignored for p2p: attention processors change per edit")
    if method == P2P:
        pipe.unet.requires_grad_(False)  # null-text optimisation differentiates w.r.t. embeddings only
        pipe.vae.requires_grad_(False)
        pipe.text_encoder.requires_grad_(False)
    loaded = LoadedPipeline(
        pipe=pipe,
        generator=ref.generator,
        method=method,
        ref=ref,
        device=device,
        dtype=dtype,
        settings=settings,
        random_weights=is_random(ref),
        safety_checker=getattr(pipe, "safety_checker", None) is not None,
        compiled=compiled,
        load_s=time.perf_counter() - start,
        notes=notes,
    )
    return loaded


def clear_pipeline_cache() -> None:
    """Forget every loaded pipeline (tests; freeing GPU memory between generators)."""
    CACHE.clear("pipeline")
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
