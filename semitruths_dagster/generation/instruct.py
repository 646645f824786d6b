"""Instruction editing: the whole image goes to an editor with an instruction; no mask goes in.

FLUX.1 Kontext, Qwen-Image-Edit and InstructPix2Pix take the real image (resized to the working size) and
an instruction such as "replace the dog with a red bicycle". Where the edit landed is measured afterwards
(the post-edit mask of Algorithm 2, as for prompt-based edits). One item per call: every editor conditions
on its own image, and Qwen-Image-Edit's vision encoder takes one image per prompt.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from .acceleration import attention_context, gpu_peak_mb, peak_memory
from .inpaint import family_kwargs, negative_prompt, resolved_call
from .loading import LoadedPipeline
from .registry import INSTRUCTION
from .results import GenerationResult, is_black
from .sizing import resample_record, to_original, to_working


@dataclass
class InstructItem:
    """One instruction edit. steps / guidance / size default to the generator's (registry; size: as
    `InpaintItem.size`); image_guidance:
    InstructPix2Pix's image guidance scale (None: the family default)."""

    key: str
    image: Image.Image
    instruction: str
    seed: int
    steps: int | None = None
    guidance: float | None = None
    size: int | tuple[int, int] | None = None
    negative_prompt: str | None = None
    image_guidance: float | None = None
    max_sequence_length: int | None = None


def _call_kwargs(loaded: LoadedPipeline, params: dict[str, Any], item: InstructItem) -> dict[str, Any]:
    w, h = params["size"]
    kwargs: dict[str, Any] = {
        "prompt": [item.instruction],
        # InstructPix2Pix works at the input's size; Kontext / Qwen-Image-Edit get height and width too.
        "image": [to_working(item.image, (w, h))],
        "num_inference_steps": params["steps"],
        "generator": [torch.Generator("cpu").manual_seed(int(item.seed))],
    }
    if loaded.pipeline_class != "StableDiffusionInstructPix2PixPipeline":
        kwargs |= {"height": h, "width": w}
    if loaded.pipeline_class == "FluxKontextPipeline":
        kwargs["max_area"] = w * h  # condition on the image at the working size, not Kontext's 1 MP
    return kwargs | family_kwargs(loaded, params, [item])


def instruct(loaded: LoadedPipeline, items: Iterable[InstructItem]) -> Iterator[GenerationResult]:
    """Edit every item by its instruction; yield one result per item, in order."""
    if loaded.method != INSTRUCTION:
        raise ValueError(f"pipeline was loaded for '{loaded.method}', not instruction editing")
    for item in items:
        params = resolved_call(item, loaded.generator)
        kwargs = _call_kwargs(loaded, params, item)
        with peak_memory(loaded.device) as measured:
            start = time.perf_counter()
            with torch.inference_mode(), attention_context(loaded.settings.attention):
                out = loaded.pipe(**kwargs)
            elapsed = time.perf_counter() - start
        image = out.images[0]
        nsfw = getattr(out, "nsfw_content_detected", None)
        resized = to_original(image, item.image.size)
        resampled, resample_filter = resample_record(item.image.size, params["size"], image.size)
        extra = {k: v for k, v in params.items() if k not in ("steps", "guidance", "size")}
        yield GenerationResult(
            key=item.key, image=resized, generator=loaded.generator, method=INSTRUCTION, ref=loaded.ref.ref,
            hub_id=loaded.ref.hub_id, random_weights=loaded.random_weights, prompt=item.instruction,
            negative_prompt=negative_prompt(loaded, item), seed=int(item.seed), steps=params["steps"],
            guidance=float(params["guidance"]), scheduler=type(getattr(loaded.pipe, "scheduler", None)).__name__,
            pipeline=loaded.pipeline_class, working_size=params["size"], output_size=resized.size,
            resampled=resampled, resample_filter=resample_filter,
            black=is_black(image), nsfw_flagged=None if nsfw is None else bool(nsfw[0]), safety_checker=loaded.safety_checker,
            device=str(loaded.device), dtype=str(loaded.dtype).removeprefix("torch."), batch_size=1,
            elapsed_s=elapsed, peak_gpu_memory_mb=gpu_peak_mb(measured),
            params=extra | {"noise_generator": "cpu", "compiled": loaded.compiled,
                            "attention": loaded.settings.attention, "input_mask": False},
        )
