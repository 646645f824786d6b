"""Load a model for a role from a hub id or a local folder, once per process.

One loader per model family; a hub id, a user's local copy and a tiny random-weight folder all go through
the same `from_pretrained` (or open_clip `create_model`) call. Weights load from safetensors, or through
torch's weights_only loader where a hub repo ships only .bin files: nothing is ever unpickled. Every load
runs under `load_checks.strict_loading`: a library's warning that the model differs from its weights
(missing keys, QuickGELU mismatch, ...) is a `WeightMismatchError` naming the role.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ..hub import (
    CACHE,
    ModelRef,
    ModelSource,
    ModelUnavailableError,
    is_random,
    open_clip_name,
    resolve_device,
)
from ..load_checks import (
    HF_FIX,
    OPEN_CLIP_FIX,
    WeightMismatchError,
    check_open_clip_folder,
    open_clip_kwargs,
    strict_loading,
)
from ..random_weights.roles import ensure_tiny
from .handle import LoadedModel
from .profiles import PAPER_MODELS, resolve_model


def resolve_dtype(dtype: str | torch.dtype = "auto", device: torch.device | None = None) -> torch.dtype:
    """'auto' is bfloat16 on a GPU (the 7B models fit and run fast) and float32 on the CPU."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype == "auto":
        return torch.bfloat16 if device is not None and device.type == "cuda" else torch.float32
    try:
        return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype '{dtype}' (use auto, float32, float16 or bfloat16)") from None


def _hf_kwargs(ref: ModelRef) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if ref.is_hub and ref.revision:
        kwargs["revision"] = ref.revision
    return kwargs


def _load_llava_next(ref: ModelRef, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import LlavaNextForConditionalGeneration, LlavaNextProcessor

    processor = LlavaNextProcessor.from_pretrained(ref.ref, **_hf_kwargs(ref))
    processor.tokenizer.padding_side = "left"  # batch generation with a decoder-only LM
    model = LlavaNextForConditionalGeneration.from_pretrained(ref.ref, dtype=dtype, **_hf_kwargs(ref))
    return model.to(device).eval(), processor


def _load_blip(ref: ModelRef, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import BlipForConditionalGeneration, BlipProcessor

    processor = BlipProcessor.from_pretrained(ref.ref, **_hf_kwargs(ref))
    model = BlipForConditionalGeneration.from_pretrained(ref.ref, dtype=dtype, **_hf_kwargs(ref))
    return model.to(device).eval(), processor


def _load_causal_lm(ref: ModelRef, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ref.ref, **_hf_kwargs(ref))
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:  # LLaMA ships without one; padding is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(ref.ref, dtype=dtype, **_hf_kwargs(ref))
    return model.to(device).eval(), tokenizer


def _load_open_clip(ref: ModelRef, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    import open_clip

    name, pretrained = open_clip_name(ref.ref, ref.is_hub)
    if not ref.is_hub:  # a local override stands for the role's paper model
        check_open_clip_folder(ref.ref, ref.hub_id or PAPER_MODELS.get(ref.role), ref.what)
    # require_pretrained: a missing checkpoint must fail, not leave a silently random CLIP; open_clip_kwargs:
    # QuickGELU where the tag's weights were trained with it (OpenAI's), whatever open_clip's default.
    model, _, preprocess = open_clip.create_model_and_transforms(
        name, pretrained=pretrained, device=device, require_pretrained=True, weights_only=True,
        **open_clip_kwargs(name, pretrained),
    )
    tokenizer = open_clip.get_tokenizer(name)
    model = model.to(dtype=dtype).eval()
    return model, {"preprocess": preprocess, "tokenizer": tokenizer}


def _transformers_pair(model_class: str, processor_class: str) -> Callable[[ModelRef, torch.device, torch.dtype],
                                                                          tuple[Any, Any]]:
    """A loader of a transformers model and its processor, both by class name (imported on first load)."""
    def load(ref: ModelRef, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
        import transformers

        processor = getattr(transformers, processor_class).from_pretrained(ref.ref, **_hf_kwargs(ref))
        model = getattr(transformers, model_class).from_pretrained(ref.ref, dtype=dtype, **_hf_kwargs(ref))
        return model.to(device).eval(), processor

    return load


LOADERS: dict[str, Callable[[ModelRef, torch.device, torch.dtype], tuple[Any, Any]]] = {
    "llava_next": _load_llava_next,
    "blip": _load_blip,
    "causal_lm": _load_causal_lm,
    "open_clip": _load_open_clip,
    "hf_clip": _transformers_pair("CLIPModel", "CLIPProcessor"),
    "sentence_encoder": _transformers_pair("AutoModel", "AutoTokenizer"),
    "image_classifier": _transformers_pair("AutoModelForImageClassification", "AutoImageProcessor"),
    "universal_segmentation": _transformers_pair("AutoModelForUniversalSegmentation", "AutoImageProcessor"),
    "sam": _transformers_pair("SamModel", "SamProcessor"),
}


def _revision(model: Any) -> str | None:
    config = getattr(model, "config", None)
    return getattr(config, "_commit_hash", None) if config is not None else None


def load_model(
    ref: ModelRef, device: str | torch.device = "auto", dtype: str | torch.dtype = "auto", cached: bool = True
) -> LoadedModel:
    """Load (once per process) the model a `ModelRef` names; a tiny ref is built first if missing.
    `cached=False` loads a fresh copy that nothing keeps (a detector lives for one run).

    Raises `ModelUnavailableError` naming the role and ref when the hub id is not reachable / not cached
    or the folder does not hold a model.
    """
    dev = resolve_device(device)
    dt = resolve_dtype(dtype, dev)
    if not cached:
        return _load(ref, dev, dt)
    key = ("model", ref.role, ref.ref, ref.revision, str(dev), str(dt))
    return CACHE.get_or_load(key, lambda: _load(ref, dev, dt))


def _load(ref: ModelRef, dev: torch.device, dt: torch.dtype) -> LoadedModel:
    if ref.source == "tiny":
        ensure_tiny(Path(ref.ref).parent, ref.role)
    elif not ref.is_hub and not Path(ref.ref).is_dir():
        raise ModelUnavailableError(ref, "no such directory")
    try:
        with strict_loading(ref.what, OPEN_CLIP_FIX if ref.family == "open_clip" else HF_FIX):
            model, processor = LOADERS[ref.family](ref, dev, dt)
    except WeightMismatchError:
        raise
    except (OSError, ValueError, RuntimeError) as exc:  # hub unreachable, not cached, or bad folder
        raise ModelUnavailableError(ref, f"{type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
    return LoadedModel(ref=ref, model=model, processor=processor, device=dev, dtype=dt,
                       random_weights=is_random(ref), revision=ref.revision or _revision(model))


def clear_model_cache() -> None:
    """Forget every loaded model (tests; freeing GPU memory between stages)."""
    CACHE.clear("model")


class ModelRegistry:
    """The models of one configuration: a `ModelSource` (profile + overrides + tiny cache + device + dtype).

    `registry.load("vlm")` resolves the role and loads it through the process-wide cache. Plain Python, so
    a Dagster resource can wrap it without this library importing Dagster.
    """

    def __init__(
        self,
        profile: str = "tiny",
        overrides: dict[str, str] | None = None,
        tiny_root: str | os.PathLike | None = None,
        device: str = "auto",
        dtype: str = "auto",
    ) -> None:
        self.source = ModelSource(profile, overrides or {}, None if tiny_root is None else Path(tiny_root),
                                  device, dtype)

    @classmethod
    def of(cls, source: ModelSource) -> ModelRegistry:
        """The registry of a source."""
        return cls(source.profile, dict(source.overrides), source.tiny_root, source.device, source.dtype)

    @property
    def device(self) -> str:
        return self.source.device

    @property
    def dtype(self) -> str:
        return self.source.dtype

    def ref(self, role: str) -> ModelRef:
        """The resolved ref of a role (no loading)."""
        return resolve_model(role, self.source)

    def load(self, role: str) -> LoadedModel:
        """Load the model of a role (cached per process)."""
        return load_model(self.ref(role), self.device, self.dtype)
