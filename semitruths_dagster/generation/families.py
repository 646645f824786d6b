"""Per-architecture facts of the diffusion models: a new family is one entry of `FAMILIES`.

A family says how to build its tiny random-weight stand-in, which call arguments diffusers defaults to
that every result records even when left unset (inpainting strength, Kandinsky's prior), and optionally
how to build it at full size with random weights for benchmarks. A generator (`registry.GENERATORS`)
names its family and its own working size, steps and guidance.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ..hub import seeded
from ..registry import Registry

# build_tiny(build folder, final folder): saves a random-weight pipeline in the hub layout.
TinyBuilder = Callable[[Path, Path], Any]


@dataclass(frozen=True)
class Family:
    """One architecture.

    build_tiny: (build folder, final folder) -> builds the tiny random-weight pipeline in the hub layout.
    call_defaults: call arguments passed and recorded explicitly (diffusers' __call__ defaults: inpainting
        strength, Kandinsky's prior); keys are this project's names, mapped by `CALL_KEYWORDS`.
    refresh_tiny: fix-up of an existing tiny folder (Kandinsky re-points its model card at the prior
        after the cache folder moved).
    full: (device, method) -> the full-size random-weight pipeline for benchmarks (None: not provided).
    """

    name: str
    build_tiny: TinyBuilder
    call_defaults: Mapping[str, Any] = field(default_factory=dict)
    refresh_tiny: Callable[[Path], None] | None = None
    full: Callable[[Any, str], Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "call_defaults", MappingProxyType(dict(self.call_defaults)))


# Our name -> the diffusers __call__ keyword.
CALL_KEYWORDS = {"strength": "strength", "prior_steps": "prior_num_inference_steps",
                 "prior_guidance": "prior_guidance_scale"}


def _sd1(tmp: Path, target: Path) -> Any:
    from .tiny_sd import build_sd1

    return build_sd1(tmp, in_channels=4)  # the hub's sd14 / sd15 / openjourney are text-to-image checkpoints


def _sd1_inpainting(tmp: Path, target: Path) -> Any:
    from .tiny_sd import build_sd1

    return build_sd1(tmp, in_channels=9)


def _sdxl(tmp: Path, target: Path) -> Any:
    from .tiny_sd import build_sdxl_inpaint

    return build_sdxl_inpaint(tmp)


def _sd1_full(device: Any, method: str) -> Any:
    from .full_random import full_sd1

    return full_sd1(device, p2p=method == "p2p")


def _sdxl_full(device: Any, method: str) -> Any:
    from .full_random import full_sdxl_inpaint

    return full_sdxl_inpaint(device)


def _kandinsky22(tmp: Path, target: Path) -> Any:
    from .tiny_kandinsky import build_kandinsky22_inpaint

    return build_kandinsky22_inpaint(tmp, target)


def _kandinsky22_refresh(folder: Path) -> None:
    from .tiny_kandinsky import refresh_model_card

    refresh_model_card(folder)


FAMILIES: Registry[Family] = Registry("generator family", Family, {
    f.name: f
    for f in (
        # SD 1.x layout: one CLIP text encoder, AutoencoderKL; 4-channel text-to-image UNet.
        Family("sd1", _sd1, {"strength": 1.0}, full=_sd1_full),
        # SD 1.x with the 9-channel inpainting UNet (image + mask + masked-image latents).
        Family("sd1_inpainting", _sd1_inpainting, {"strength": 1.0}),
        # Two text encoders; diffusers' SDXL inpainting default strength is 0.9999.
        Family("sdxl", _sdxl, {"strength": 0.9999}, full=_sdxl_full),
        # Decoder + prior, MoVQ.
        Family("kandinsky22", _kandinsky22, {"prior_steps": 25, "prior_guidance": 4.0},
               refresh_tiny=_kandinsky22_refresh),
    )
})


def family(name: str) -> Family:
    return FAMILIES[name]


FULL_FAMILIES = tuple(name for name, f in FAMILIES.items() if f.full is not None)


def build_full(name: str, method: str, device: Any, dtype: Any, seed: int = 0) -> Any:
    """A full-size random-weight pipeline of a family, initialised directly on the device."""
    if name not in FULL_FAMILIES:
        raise ValueError(f"no full-size random build for family '{name}' (available: {', '.join(FULL_FAMILIES)})")
    with seeded(seed):
        pipe = FAMILIES[name].full(device, method)
    if device.type != "meta":  # 'meta' only checks that the configs build
        pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe
