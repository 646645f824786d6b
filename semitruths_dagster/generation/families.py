"""Per-architecture facts of the diffusion models, one entry per family: a new family is one entry here.

A family says which diffusers pipeline class loads it for each method it supports (None: diffusers' auto
pipeline), how to build its tiny random-weight stand-in, and the call arguments diffusers defaults to
that the stage records on every row (strength, Kandinsky's prior, true CFG, image guidance, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any


def _builder(module: str, function: str, **kwargs: Any) -> Callable[[Path, Path], Any]:
    """A lazy builder: the tiny-model modules import diffusers / transformers only when a build runs."""

    def build(tmp: Path, target: Path) -> Any:
        import importlib

        fn = getattr(importlib.import_module(f"{__package__}.{module}"), function)
        return fn(tmp, target) if function == "build_kandinsky22_inpaint" else fn(tmp, **kwargs)

    return build


@dataclass(frozen=True)
class Family:
    """One architecture.

    pipelines: method -> diffusers pipeline class name (None: AutoPipelineForInpainting for inpainting,
        StableDiffusionPipeline for p2p).
    build_tiny: (tmp folder, final folder) -> builds the tiny random-weight pipeline in the hub layout.
    call_defaults: call arguments passed and recorded explicitly: diffusers' __call__ defaults unless a
        comment says otherwise (keys are this project's names, mapped to diffusers' keyword by
        `CALL_KEYWORDS`).
    guidance_keyword: the __call__ keyword the recorded `guidance` goes to (Qwen-Image: true CFG).
    negative_default: the negative prompt used when an item has none (Qwen-Image's true CFG needs one).
    large: transformer of several billion parameters: bf16 on a GPU (fp16 overflows in their activations).
    """

    name: str
    pipelines: Mapping[str, str | None]
    build_tiny: Callable[[Path, Path], Any]
    call_defaults: Mapping[str, Any] = field(default_factory=dict)
    guidance_keyword: str = "guidance_scale"
    negative_default: str | None = None
    large: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "pipelines", MappingProxyType(dict(self.pipelines)))
        object.__setattr__(self, "call_defaults", MappingProxyType(dict(self.call_defaults)))


# Our name -> the diffusers __call__ keyword.
CALL_KEYWORDS = {
    "strength": "strength",
    "prior_steps": "prior_num_inference_steps",
    "prior_guidance": "prior_guidance_scale",
    "image_guidance": "image_guidance_scale",
    "max_sequence_length": "max_sequence_length",
    "auto_resize": "_auto_resize",
}

# diffusers' SD3 inpainting defaults to strength 0.6, which keeps much of the original inside the mask; the
# paper's inpainting regenerates the masked region from noise (strength 1), so SD 3.5 does too.
_SD3 = {"strength": 1.0, "max_sequence_length": 256}
# Qwen-Image is not guidance-distilled: its guidance is true classifier-free guidance with a blank negative.
_QWEN = {"guidance_keyword": "true_cfg_scale", "negative_default": " ", "large": True}

FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        # SD 1.x text-to-image checkpoints (sd14, sd15, openjourney): inpainting by latent blending, p2p.
        Family("sd1", {"inpainting": None, "p2p": None}, _builder("tiny_sd", "build_sd1", in_channels=4),
               {"strength": 1.0}),
        Family("sd1_inpainting", {"inpainting": None}, _builder("tiny_sd", "build_sd1", in_channels=9),
               {"strength": 1.0}),
        Family("sdxl", {"inpainting": None}, _builder("tiny_sd", "build_sdxl_inpaint"), {"strength": 0.9999}),
        Family("kandinsky22", {"inpainting": None}, _builder("tiny_kandinsky", "build_kandinsky22_inpaint"),
               {"prior_steps": 25, "prior_guidance": 4.0}),
        # FLUX.1 Fill [dev]: mask and masked image are extra input channels; strength 1 = from noise.
        Family("flux_fill", {"inpainting": "FluxFillPipeline"}, _builder("tiny_flow", "build_flux_fill"),
               {"strength": 1.0, "max_sequence_length": 512}, large=True),
        # SD 3.5 text-to-image checkpoints: latent blending outside the mask (16-channel transformer).
        Family("sd35_medium", {"inpainting": "StableDiffusion3InpaintPipeline"},
               _builder("tiny_flow", "build_sd3", variant="medium"), _SD3, large=True),
        Family("sd35_large", {"inpainting": "StableDiffusion3InpaintPipeline"},
               _builder("tiny_flow", "build_sd3", variant="large"), _SD3, large=True),
        Family("qwen_image", {"inpainting": "QwenImageInpaintPipeline"},
               _builder("tiny_flow", "build_qwen_image_inpaint"), {"strength": 1.0}, **_QWEN),
        # Instruction editors: the input image conditions the model; no mask goes in.
        Family("flux_kontext", {"instruction": "FluxKontextPipeline"}, _builder("tiny_flow", "build_flux_kontext"),
               {"max_sequence_length": 512, "auto_resize": False}, large=True),
        Family("qwen_image_edit", {"instruction": "QwenImageEditPipeline"},
               _builder("tiny_flow", "build_qwen_image_edit"), {}, **_QWEN),
        Family("instruct_pix2pix", {"instruction": "StableDiffusionInstructPix2PixPipeline"},
               _builder("tiny_sd", "build_instruct_pix2pix"), {"image_guidance": 1.5}),
    )
}


def family(name: str) -> Family:
    """The family entry; a clear error lists the known ones."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise ValueError(f"unknown model family '{name}' (known: {', '.join(FAMILIES)})") from None
