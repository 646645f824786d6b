"""Inpainting: a masked region of a real image is regenerated from a prompt (the perturbed mask label).

Items are batched by settings.batch_size; each item has its own torch.Generator seeded from its seed, so a
batch gives the same images as one item at a time (up to float rounding of batched kernels).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .acceleration import attention_context, gpu_peak_mb, peak_memory
from .families import CALL_KEYWORDS
from .loading import LoadedPipeline
from .registry import INPAINTING, generator_spec
from .results import GenerationResult, as_size, is_black
from .settings import DeviceSettings
from .sizing import mask_to_working, resample_record, to_original, to_working


@dataclass
class InpaintItem:
    """One inpainting request.

    image: the real image (RGB); mask: the preprocessed soft mask (L, white = regenerate; diffusers
    binarises it at 0.5). steps / guidance / size default to the generator's defaults (registry); size is
    the working size: (width, height), an int for a square, None for the generator's choice for this
    image (`GeneratorSpec.working_size`: the image's own size where the model allows it). strength: SD / SDXL denoising strength (None: the
    pipeline's default, 1.0 for SD, 0.9999 for SDXL). prior_steps / prior_guidance: Kandinsky's prior.
    """

    key: str
    image: Image.Image
    mask: Image.Image
    prompt: str
    seed: int
    steps: int | None = None
    guidance: float | None = None
    size: int | tuple[int, int] | None = None
    negative_prompt: str | None = None
    strength: float | None = None
    prior_steps: int | None = None
    prior_guidance: float | None = None


def resolved_call(item: Any, generator: str) -> dict[str, Any]:
    """Steps, guidance, working size and the family's recorded call arguments of one item (an item field
    that is set wins over the generator's / family's default)."""
    spec = generator_spec(generator)
    out: dict[str, Any] = {
        "steps": item.steps if item.steps is not None else spec.default_steps,
        "guidance": item.guidance if item.guidance is not None else spec.default_guidance,
        "size": as_size(item.size) if item.size is not None else spec.working_size(item.image.size),
    }
    for key, default in spec.facts.call_defaults.items():
        value = getattr(item, key, None)
        out[key] = value if value is not None else default
    return out


def _batches(
    items: Iterable[InpaintItem], generator: str, batch_size: int
) -> Iterator[tuple[dict[str, Any], list[InpaintItem]]]:
    """Consecutive items with the same call parameters, at most batch_size at a time."""
    batch: list[InpaintItem] = []
    params: dict[str, Any] | None = None
    for item in items:
        p = {**resolved_call(item, generator), "has_negative": item.negative_prompt is not None}
        if batch and (p != params or len(batch) >= batch_size):
            yield params, batch  # type: ignore[misc]
            batch = []
        params = p
        batch.append(item)
    if batch:
        yield params, batch  # type: ignore[misc]


def _call_kwargs(loaded: LoadedPipeline, params: dict[str, Any], batch: list[InpaintItem]) -> dict[str, Any]:
    w, h = params["size"]
    # CPU generators on every device: diffusers then draws the noise on the CPU and moves it, so a seed
    # gives the same starting noise on any machine (CUDA generators differ from CPU ones).
    kwargs: dict[str, Any] = {
        "prompt": [it.prompt for it in batch],
        "image": [to_working(it.image, (w, h)) for it in batch],
        "mask_image": [mask_to_working(it.mask, (w, h)) for it in batch],
        "height": h,
        "width": w,
        "num_inference_steps": params["steps"],
        "generator": [torch.Generator("cpu").manual_seed(int(it.seed)) for it in batch],
    }
    return kwargs | family_kwargs(loaded, params, batch)


def family_kwargs(loaded: LoadedPipeline, params: dict[str, Any], batch: list[Any]) -> dict[str, Any]:
    """Guidance under the family's keyword, negative prompts, and the family's recorded call arguments."""
    fam = generator_spec(loaded.generator).facts
    kwargs: dict[str, Any] = {fam.guidance_keyword: params["guidance"]}
    negatives = [it.negative_prompt if it.negative_prompt is not None else fam.negative_default for it in batch]
    if any(n is not None for n in negatives):
        kwargs["negative_prompt"] = negatives
    kwargs |= {CALL_KEYWORDS[k]: params[k] for k in fam.call_defaults}
    return kwargs


def negative_prompt(loaded: LoadedPipeline, item: Any) -> str | None:
    """The negative prompt an item ran with (its own, or the family's default)."""
    default = generator_spec(loaded.generator).facts.negative_default
    return item.negative_prompt if item.negative_prompt is not None else default


def _scheduler_name(pipe: Any) -> str:
    return type(getattr(pipe, "scheduler", None)).__name__


def inpaint(
    loaded: LoadedPipeline, items: Iterable[InpaintItem], settings: DeviceSettings | None = None
) -> Iterator[GenerationResult]:
    """Inpaint every item (lazily, batch by batch) and yield one result per item, in order.

    settings: for the batch size (defaults to the settings the pipeline was loaded with).
    """
    if loaded.method != INPAINTING:
        raise ValueError(f"pipeline was loaded for '{loaded.method}', not inpainting")
    settings = settings or loaded.settings
    for params, batch in _batches(items, loaded.generator, settings.batch_size):
        kwargs = _call_kwargs(loaded, params, batch)
        with peak_memory(loaded.device) as measured:
            start = time.perf_counter()
            with torch.inference_mode(), attention_context(loaded.settings.attention):
                out = loaded.pipe(**kwargs)
            elapsed = (time.perf_counter() - start) / len(batch)
        peak = gpu_peak_mb(measured)
        nsfw = getattr(out, "nsfw_content_detected", None)
        extra = {k: params[k] for k in generator_spec(loaded.generator).facts.call_defaults}
        extra["mask_binarized_by_pipeline"] = True
        extra["noise_generator"] = "cpu"
        extra["compiled"] = loaded.compiled
        extra["attention"] = loaded.settings.attention
        for i, (item, image) in enumerate(zip(batch, out.images, strict=True)):
            resized = to_original(image, item.image.size)
            resampled, resample_filter = resample_record(item.image.size, params["size"], image.size)
            yield GenerationResult(
                key=item.key,
                image=resized,
                generator=loaded.generator,
                method=INPAINTING,
                ref=loaded.ref.ref,
                hub_id=loaded.ref.hub_id,
                random_weights=loaded.random_weights,
                prompt=item.prompt,
                negative_prompt=negative_prompt(loaded, item),
                seed=int(item.seed),
                steps=params["steps"],
                guidance=float(params["guidance"]),
                scheduler=_scheduler_name(loaded.pipe),
                pipeline=loaded.pipeline_class,
                working_size=params["size"],
                output_size=resized.size,
                resampled=resampled,
                resample_filter=resample_filter,
                black=is_black(image),
                nsfw_flagged=None if nsfw is None else bool(nsfw[i]),
                safety_checker=loaded.safety_checker,
                device=str(loaded.device),
                dtype=str(loaded.dtype).removeprefix("torch."),
                batch_size=len(batch),
                elapsed_s=elapsed,
                peak_gpu_memory_mb=peak,
                params=dict(extra),
            )
