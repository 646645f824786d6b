"""Per-family facts of the diffusion models: a new architecture family is one entry of `FAMILIES`.

A family is what decides how a generator's weights are laid out and called: its tiny random-weight
builder, diffusers' call defaults (size, steps, guidance, inpainting strength, Kandinsky's prior) that
every result records even when left unset, and an optional full-size random build for benchmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..hub import seeded
from ..registry import Registry

# build_tiny(build folder, final folder): saves a random-weight pipeline in the hub layout.
TinyBuilder = Callable[[Path, Path], Any]


@dataclass(frozen=True)
class Family:
    """name; build_tiny; default_size / default_steps / default_guidance: diffusers' call defaults;
    strength: the inpainting strength passed (None: the pipeline takes none); prior_steps /
    prior_guidance: a prior's call defaults (None: no prior); refresh_tiny: fix-up of an existing tiny
    folder (Kandinsky re-points its model card at the prior after the cache moved); full: the
    full-size random build for benchmarks (None: not provided)."""

    name: str
    build_tiny: TinyBuilder
    default_size: int = 512
    default_steps: int = 50
    default_guidance: float = 7.5
    strength: float | None = None
    prior_steps: int | None = None
    prior_guidance: float | None = None
    refresh_tiny: Callable[[Path], None] | None = None
    full: Callable[[Any, str], Any] | None = None

    def call_defaults(self) -> dict[str, Any]:
        """Method-specific parameters this family's inpainting call takes, with their defaults."""
        out: dict[str, Any] = {}
        if self.strength is not None:
            out["strength"] = self.strength
        if self.prior_steps is not None:
            out |= {"prior_steps": self.prior_steps, "prior_guidance": self.prior_guidance}
        return out


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
        Family("sd1", _sd1, strength=1.0, full=_sd1_full),
        # SD 1.x with the 9-channel inpainting UNet (image + mask + masked-image latents).
        Family("sd1_inpainting", _sd1_inpainting, strength=1.0),
        # Two text encoders; diffusers' SDXL inpainting default strength is 0.9999.
        Family("sdxl", _sdxl, default_size=1024, strength=0.9999, full=_sdxl_full),
        # Decoder + prior, MoVQ.
        Family("kandinsky22", _kandinsky22, default_steps=100, default_guidance=4.0, prior_steps=25,
               prior_guidance=4.0, refresh_tiny=_kandinsky22_refresh),
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
