"""The generators of the paper: name -> hub id, architecture family, methods; and resolving a name to a ref.

A generator resolves to a `hub.ModelRef`: a hub id (profile 'paper'), a local directory (an override), or
a tiny random-weight folder this project builds (profile 'tiny'). All three load through the same
`from_pretrained` call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from ..hub import ModelRef, ModelSource, resolve_ref
from ..methods import INPAINTING, INSTRUCTION, METHODS, P2P
from ..registry import Registry
from .families import Family, family
from .sizing import NATIVE, choose_working_size

__all__ = ["INPAINTING", "INSTRUCTION", "METHODS", "P2P"]  # re-exported: one definition in methods.py


@dataclass(frozen=True)
class GeneratorSpec:
    """One diffusion model of the paper.

    family: an entry of `families.FAMILIES` (pipeline class per method, tiny builder, call defaults).
    released_name: the `model` column of the released metadata (this project's name for models the
        release does not have).
    default_size / default_steps / default_guidance: the side of the pixel budget (the working size is
        at most default_size**2 pixels, aspect kept: `working_size`), steps and guidance scale the model
        is run at unless the configuration says otherwise (its model card's / diffusers' values; the
        original code left them at defaults; we pass and record them explicitly).
    licence / gated: the weights' licence and whether the hub asks users to accept it before download
        (a gated model must be in the local hub cache or given as a local copy: it never loads silently).
    scheduler: a diffusers scheduler class swapped in (from the checkpoint's config); None keeps the
        checkpoint's own. The scheduler that ran is recorded on every row.
    paper: False for generators the paper did not use (kept for users' own runs and tests).
    """

    name: str
    hub_id: str
    family: str
    methods: tuple[str, ...]
    released_name: str
    default_size: int = 512
    default_steps: int = 50
    default_guidance: float = 7.5
    licence: str = "creativeml-openrail-m"
    gated: bool = False
    scheduler: str | None = None
    paper: bool = True

    @property
    def facts(self) -> Family:
        """The family entry of this generator's architecture."""
        return family(self.family)

    @property
    def large(self) -> bool:
        """Billions of transformer parameters: bf16 on a GPU by default, CPU offload worth having."""
        return self.facts.large

    def working_size(self, original: tuple[int, int], size: int | None = None,
                     policy: str = NATIVE) -> tuple[int, int]:
        """The (width, height) this generator runs an original of size `original` at: its own size where
        the family allows it, else the nearest allowed (or the trained bucket nearest in aspect ratio).
        size: the pixel budget's side (None: default_size); policy 'square': (size, size), the old way."""
        return choose_working_size(self.facts.sizing, original, size or self.default_size, self.default_size,
                                   policy)


# A new generator: one entry here (a new architecture: one entry in `families.FAMILIES` too).
GENERATORS: Registry[GeneratorSpec] = Registry("generator", GeneratorSpec, {
    g.name: g
    for g in (
        GeneratorSpec(
            "sd14", "CompVis/stable-diffusion-v1-4", "sd1", (INPAINTING, P2P), "StableDiffusion_v4"
        ),
        GeneratorSpec(
            "sd15",
            "stable-diffusion-v1-5/stable-diffusion-v1-5",
            "sd1",
            (INPAINTING, P2P),
            "StableDiffusion_v5",
        ),
        # The inpainting fine-tune: its default size is 1024 in diffusers; the paper's images are 512.
        GeneratorSpec(
            "sdxl",
            "diffusers/stable-diffusion-xl-1.0-inpainting-0.1",
            "sdxl",
            (INPAINTING,),
            "StableDiffusion_XL",
            default_size=1024,
            licence="openrail++",
        ),
        GeneratorSpec("openjourney", "prompthero/openjourney", "sd1", (INPAINTING, P2P), "OpenJourney"),
        GeneratorSpec(
            "kandinsky22",
            "kandinsky-community/kandinsky-2-2-decoder-inpaint",
            "kandinsky22",
            (INPAINTING,),
            "Kandinsky_2_2",
            default_steps=100,
            default_guidance=4.0,
            licence="apache-2.0",
        ),
        # Not in the paper: SD 1.5's 9-channel inpainting fine-tune (the paper inpainted with the 4-channel
        # text-to-image checkpoints above, which diffusers runs by blending latents outside the mask).
        GeneratorSpec(
            "sd15_inpainting",
            "stable-diffusion-v1-5/stable-diffusion-inpainting",
            "sd1_inpainting",
            (INPAINTING,),
            "StableDiffusion_v5_inpainting",
            paper=False,
        ),
        # Models of 2024-2025 (not in the paper): rectified-flow transformers and instruction editors.
        GeneratorSpec("flux_fill", "black-forest-labs/FLUX.1-Fill-dev", "flux_fill", (INPAINTING,), "flux_fill",
                      default_size=1024, default_steps=50, default_guidance=30.0,
                      licence="flux-1-dev-non-commercial-license", gated=True, paper=False),
        GeneratorSpec("sd35_medium", "stabilityai/stable-diffusion-3.5-medium", "sd35_medium", (INPAINTING,),
                      "sd35_medium", default_size=1024, default_steps=40, default_guidance=4.5,
                      licence="stabilityai-ai-community", gated=True, paper=False),
        GeneratorSpec("sd35_large", "stabilityai/stable-diffusion-3.5-large", "sd35_large", (INPAINTING,),
                      "sd35_large", default_size=1024, default_steps=28, default_guidance=3.5,
                      licence="stabilityai-ai-community", gated=True, paper=False),
        # Qwen-Image's guidance is true classifier-free guidance (`true_cfg_scale`, negative prompt " ").
        GeneratorSpec("qwen_image", "Qwen/Qwen-Image", "qwen_image", (INPAINTING,), "qwen_image",
                      default_size=1024, default_steps=50, default_guidance=4.0, licence="apache-2.0",
                      paper=False),
        GeneratorSpec("flux_kontext", "black-forest-labs/FLUX.1-Kontext-dev", "flux_kontext", (INSTRUCTION,),
                      "flux_kontext", default_size=1024, default_steps=28, default_guidance=2.5,
                      licence="flux-1-dev-non-commercial-license", gated=True, paper=False),
        GeneratorSpec("qwen_image_edit", "Qwen/Qwen-Image-Edit", "qwen_image_edit", (INSTRUCTION,),
                      "qwen_image_edit", default_size=1024, default_steps=50, default_guidance=4.0,
                      licence="apache-2.0", paper=False),
        GeneratorSpec("instruct_pix2pix", "timbrooks/instruct-pix2pix", "instruct_pix2pix", (INSTRUCTION,),
                      "instruct_pix2pix", default_size=512, default_steps=100, default_guidance=7.5,
                      licence="mit", paper=False),
    )
})
PAPER_GENERATORS = tuple(name for name, g in GENERATORS.items() if g.paper)


# Bump when a tiny recipe changes, so old folders are not mistaken for the new recipe.
GENERATION_TINY_VERSION = "1"


def tiny_generator_dir(root: str | os.PathLike, generator: str) -> Path:
    """The folder of a generator's tiny model under the tiny cache."""
    return Path(root) / f"gen-{generator}-v{GENERATION_TINY_VERSION}"


def generator_spec(name: str) -> GeneratorSpec:
    """The spec of a generator name; a clear error lists the known ones."""
    return GENERATORS[name]


def generators_for(method: str, paper_only: bool = True) -> list[str]:
    """Generator names that support a method ('inpainting', 'p2p' or 'instruction')."""
    if method not in METHODS:
        raise ValueError(f"unknown method '{method}' (known: {', '.join(METHODS)})")
    return [n for n, g in GENERATORS.items() if method in g.methods and (g.paper or not paper_only)]


def resolve_generator(name: str, source: ModelSource) -> ModelRef:
    """Resolve a generator name under `source`; an override (hub id[@revision] or local path) wins."""
    spec = generator_spec(name)
    return resolve_ref(name, spec.family, source, hub_id=spec.hub_id,
                       tiny_folder=lambda root: tiny_generator_dir(root, name),
                       setting="generation.overrides", stands_for=spec.hub_id)
