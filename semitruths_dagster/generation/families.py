"""Per-architecture facts of the diffusion models: a new family is one entry of `FAMILIES`.

A family says which diffusers pipeline class loads it for each method it supports (None: diffusers' auto
pipeline), how to build its tiny random-weight stand-in, which call arguments diffusers defaults to that
every result records even when left unset (strength, Kandinsky's prior, true CFG, image guidance, ...),
and optionally how to build it at full size with random weights for benchmarks. A generator
(`registry.GENERATORS`) names its family and its own working size, steps and guidance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..hub import seeded
from ..random_weights.flow import (
    build_flux_fill,
    build_flux_kontext,
    build_qwen_image_edit,
    build_qwen_image_inpaint,
    build_sd3,
)
from ..random_weights.full_flow import full_flux, full_qwen_image, full_sd35
from ..random_weights.full_kandinsky import full_kandinsky22_inpaint
from ..random_weights.full_sd import full_instruct_pix2pix, full_sd1, full_sdxl_inpaint
from ..random_weights.kandinsky import build_kandinsky22_inpaint, refresh_model_card
from ..random_weights.sd import build_instruct_pix2pix, build_sd1, build_sdxl_inpaint
from ..registry import Registry
from .sizing import Sizing

# build_tiny(build folder, final folder): saves a random-weight pipeline in the hub layout.
TinyBuilder = Callable[[Path, Path], Any]


@dataclass(frozen=True)
class Family:
    """One architecture.

    build_tiny: (build folder, final folder) -> builds the tiny random-weight pipeline in the hub layout.
    call_defaults: call arguments passed and recorded explicitly: diffusers' __call__ defaults unless a
        comment says otherwise (keys are this project's names, mapped to diffusers' keyword by
        `CALL_KEYWORDS`).
    pipelines: method -> diffusers pipeline class name (None: AutoPipelineForInpainting for inpainting,
        StableDiffusionPipeline for p2p).
    guidance_keyword: the __call__ keyword the recorded `guidance` goes to (Qwen-Image: true CFG).
    negative_default: the negative prompt used when an item has none (Qwen-Image's true CFG needs one).
    large: transformer of several billion parameters: bf16 on a GPU (fp16 overflows in their activations).
    refresh_tiny: fix-up of an existing tiny folder (Kandinsky re-points its model card at the prior
        after the cache folder moved).
    full: (device, method) -> the full-size random-weight pipeline for benchmarks (None: not provided).
    sizing: the sizes its pipeline runs at (factor, trained buckets; `sizing.choose_working_size`).
    """

    name: str
    build_tiny: TinyBuilder
    call_defaults: Mapping[str, Any] = field(default_factory=dict)
    pipelines: Mapping[str, str | None] = field(default_factory=lambda: {"inpainting": None})
    guidance_keyword: str = "guidance_scale"
    negative_default: str | None = None
    large: bool = False
    refresh_tiny: Callable[[Path], None] | None = None
    full: Callable[[Any, str], Any] | None = None
    sizing: Sizing = Sizing()

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


def _tiny(builder: Callable[..., Any], **kwargs: Any) -> TinyBuilder:
    """`builder(build folder, **kwargs)` as a family's tiny builder (the final folder is for builders that
    need it). The builder modules import diffusers / transformers only when a build runs."""

    def build(tmp: Path, target: Path) -> Any:
        return builder(tmp, **kwargs)

    return build


def _sd1_full(device: Any, method: str) -> Any:
    return full_sd1(device, p2p=method == "p2p")


def _full(builder: Callable[..., Any], **kwargs: Any) -> Callable[[Any, str], Any]:
    """`builder(device, **kwargs)` as a family's full-size builder (one method per family)."""

    def build(device: Any, method: str) -> Any:
        return builder(device, **kwargs)

    return build


# diffusers' SD3 inpainting defaults to strength 0.6, which keeps much of the original inside the mask; the
# paper's inpainting regenerates the masked region from noise (strength 1), so SD 3.5 does too.
_SD3 = {"strength": 1.0, "max_sequence_length": 256}
# Qwen-Image is not guidance-distilled: its guidance is true classifier-free guidance with a blank negative.
_QWEN = {"guidance_keyword": "true_cfg_scale", "negative_default": " ", "large": True}

# Sizes: the factor is the VAE's downsampling (8) times the transformer's patch size (2 for FLUX, SD 3,
# Qwen-Image: diffusers' `vae_scale_factor * 2` / `vae_scale_factor * patch_size` checks in each pipeline).
_VAE8 = Sizing(multiple=8)
_PATCH16 = Sizing(multiple=16)
# Qwen-Image's trained sizes, (width, height): the `aspect_ratios` table of the model card's usage example
# (huggingface.co/Qwen/Qwen-Image, README). 1140 is not a multiple of 16: the pipeline floors it to 1136.
QWEN_IMAGE_BUCKETS = ((1328, 1328), (1664, 928), (928, 1664), (1472, 1140), (1140, 1472), (1584, 1056),
                      (1056, 1584))
# FLUX.1 Kontext's trained sizes, (width, height): `PREFERRED_KONTEXT_RESOLUTIONS` in diffusers'
# pipelines/flux/pipeline_flux_kontext.py (from BFL's flux repository), used there when `_auto_resize`
# is on; this project passes the bucket itself (auto_resize off) so it is recorded.
FLUX_KONTEXT_BUCKETS = ((672, 1568), (688, 1504), (720, 1456), (752, 1392), (800, 1328), (832, 1248),
                        (880, 1184), (944, 1104), (1024, 1024), (1104, 944), (1184, 880), (1248, 832),
                        (1328, 800), (1392, 752), (1456, 720), (1504, 688), (1568, 672))

FAMILIES: Registry[Family] = Registry("generator family", Family, {
    f.name: f
    for f in (
        # SD 1.x text-to-image checkpoints (sd14, sd15, openjourney): inpainting by latent blending, p2p.
        Family("sd1", _tiny(build_sd1, in_channels=4), {"strength": 1.0},
               pipelines={"inpainting": None, "p2p": None}, full=_sd1_full, sizing=_VAE8),
        # SD 1.x with the 9-channel inpainting UNet (image + mask + masked-image latents).
        Family("sd1_inpainting", _tiny(build_sd1, in_channels=9), {"strength": 1.0},
               full=_full(full_sd1, in_channels=9), sizing=_VAE8),
        # Two text encoders; diffusers' SDXL inpainting default strength is 0.9999.
        Family("sdxl", _tiny(build_sdxl_inpaint), {"strength": 0.9999}, full=_full(full_sdxl_inpaint), sizing=_VAE8),
        # Decoder + prior, MoVQ.
        Family("kandinsky22", build_kandinsky22_inpaint, {"prior_steps": 25, "prior_guidance": 4.0},
               refresh_tiny=refresh_model_card, full=_full(full_kandinsky22_inpaint),
               # the decoder pipeline rounds sides up to multiples of 64 (`downscale_height_and_width`)
               sizing=Sizing(multiple=64)),
        # FLUX.1 Fill [dev]: mask and masked image are extra input channels; strength 1 = from noise.
        Family("flux_fill", _tiny(build_flux_fill), {"strength": 1.0, "max_sequence_length": 512},
               pipelines={"inpainting": "FluxFillPipeline"}, large=True,
               full=_full(full_flux, fill=True), sizing=_PATCH16),
        # SD 3.5 text-to-image checkpoints: latent blending outside the mask (16-channel transformer).
        Family("sd35_medium", _tiny(build_sd3, variant="medium"), _SD3,
               pipelines={"inpainting": "StableDiffusion3InpaintPipeline"}, large=True,
               full=_full(full_sd35, variant="medium"), sizing=_PATCH16),
        Family("sd35_large", _tiny(build_sd3, variant="large"), _SD3,
               pipelines={"inpainting": "StableDiffusion3InpaintPipeline"}, large=True,
               full=_full(full_sd35, variant="large"), sizing=_PATCH16),
        Family("qwen_image", _tiny(build_qwen_image_inpaint), {"strength": 1.0},
               pipelines={"inpainting": "QwenImageInpaintPipeline"},
               full=_full(full_qwen_image, edit=False),
               sizing=Sizing(multiple=16, buckets=QWEN_IMAGE_BUCKETS), **_QWEN),
        # Instruction editors: the input image conditions the model; no mask goes in.
        Family("flux_kontext", _tiny(build_flux_kontext),
               {"max_sequence_length": 512, "auto_resize": False},
               pipelines={"instruction": "FluxKontextPipeline"}, large=True,
               full=_full(full_flux, fill=False),
               sizing=Sizing(multiple=16, buckets=FLUX_KONTEXT_BUCKETS)),
        Family("qwen_image_edit", _tiny(build_qwen_image_edit),
               pipelines={"instruction": "QwenImageEditPipeline"},
               full=_full(full_qwen_image, edit=True),
               # its pipeline resizes the input image to about 1 MP, aspect kept, sides multiples of 32
               # (`calculate_dimensions(1024 * 1024, ratio)` in pipeline_qwenimage_edit.py): never native
               sizing=Sizing(multiple=32, native=False), **_QWEN),
        Family("instruct_pix2pix", _tiny(build_instruct_pix2pix), {"image_guidance": 1.5},
               pipelines={"instruction": "StableDiffusionInstructPix2PixPipeline"},
               full=_full(full_instruct_pix2pix), sizing=_VAE8),
    )
})


def family(name: str) -> Family:
    return FAMILIES[name]


FULL_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.full is not None)


def build_full(name: str, method: str, device: Any, dtype: Any, seed: int = 0) -> Any:
    """A full-size random-weight pipeline of a family, initialised directly on the device in `dtype` (Qwen-Image
    and its 7 B text encoder are 28.7 B parameters: 115 GB in fp32, 57 GB in bf16)."""
    import torch

    if name not in FULL_FAMILIES:
        raise ValueError(f"no full-size random build for family '{name}' (available: {', '.join(FULL_FAMILIES)})")
    default = torch.get_default_dtype()
    torch.set_default_dtype(dtype if dtype.is_floating_point else default)
    try:
        with seeded(seed):
            pipe = FAMILIES[name].full(device, method)
    finally:
        torch.set_default_dtype(default)
    if device.type != "meta":  # 'meta' only checks that the configs build
        pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe
