"""CLIP backbones through open_clip: a hub ref or a local open_clip folder, and tiny random ones.

Refs: `open_clip:<arch>/<pretrained tag>` (e.g. `open_clip:ViT-L-14/openai`, OpenAI's weights as the
detectors' `clip.load` gives them: built with QuickGELU because the tag says so, see load_checks.py), `hf-hub:<repo>`, or a local folder in open_clip's hub layout
(`open_clip_config.json` + `open_clip_model.safetensors`). Tiny backbones keep the real model's input size
and output width (so heads load in their real shapes) but only 2 narrow layers: random weights either way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..hub import CLIP_MEAN, CLIP_STD, open_clip_name, save_open_clip, seeded
from ..load_checks import (
    OPEN_CLIP_FIX,
    WeightMismatchError,
    check_open_clip_folder,
    open_clip_kwargs,
    strict_loading,
)
from ..published_configs import published
from .checkpoints import CheckpointError

# The backbone UFD and RINE were trained on (OpenAI's ViT-L/14, QuickGELU): a local folder stands for it.
OPENAI_VIT_L14 = published("openai/clip-vit-large-patch14")["open_clip"]

__all__ = ["CLIP_MEAN", "CLIP_STD", "OPENAI_VIT_L14", "build_open_clip", "load_open_clip", "save_open_clip_folder", "seeded",
           "tiny_clip_config", "vit_l14_clip_config"]


def load_open_clip(kind: str, ref: str, what: str, stands_for: str | None = None) -> Any:
    """An open_clip CLIP model (eval mode, CPU) from a resolved ('hub' | 'local', ref).

    stands_for: the ref a local folder replaces (`open_clip:ViT-L-14/openai`): its config must then build
    the activation that tag's weights were trained with."""
    import open_clip

    if kind != "hub" and not (Path(ref) / "open_clip_config.json").is_file():
        raise CheckpointError(f"{what}: {ref} is not an open_clip folder (no open_clip_config.json)")
    if kind != "hub":
        check_open_clip_folder(ref, stands_for, what)
    name, pretrained = open_clip_name(ref, kind == "hub")
    try:
        # require_pretrained: a checkpoint that cannot be found must fail, not leave a random CLIP;
        # open_clip_kwargs: QuickGELU where the tag's weights were trained with it (OpenAI's).
        with strict_loading(what, OPEN_CLIP_FIX):
            model = open_clip.create_model(
                name, pretrained=pretrained, require_pretrained=True, weights_only=True,
                **open_clip_kwargs(name, pretrained),
            )
    except WeightMismatchError:
        raise
    except (OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(
            f"{what}: cannot load open_clip model {ref!r}: {str(exc).splitlines()[0]}"
        ) from exc
    return model.eval()


def tiny_clip_config(embed_dim: int, image_size: int = 224, patch_size: int = 32,
                     quick_gelu: bool = True) -> dict[str, Any]:
    """An open_clip model config with the real input size and embedding width, 2 layers of width 32.

    quick_gelu: the activation of the model it stands for (OpenAI's CLIPs: True; SigLIP: False)."""
    return {
        "embed_dim": embed_dim,
        "quick_gelu": quick_gelu,
        "vision_cfg": {
            "image_size": image_size,
            "layers": 2,
            "width": 32,
            "head_width": 16,
            "patch_size": patch_size,
        },
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
    }


def vit_l14_clip_config(embed_dim: int, tiny: bool) -> dict[str, Any]:
    """The random backbone of a head trained on OpenAI's ViT-L/14 (UFD, RINE, the probe): the tiny
    2-layer stand-in (patch 32), or the real ViT-L/14 shape (428 M parameters)."""
    cfg = tiny_clip_config(embed_dim, image_size=224, patch_size=32 if tiny else 14)
    if not tiny:
        cfg["vision_cfg"].update(layers=24, width=1024, head_width=64)
        cfg["text_cfg"].update(width=768, heads=12, layers=12)
    return cfg


def build_open_clip(model_cfg: dict[str, Any]) -> Any:
    """An open_clip CLIP with random weights from a model config (the caller seeds torch)."""
    import open_clip

    return open_clip.CLIP(**model_cfg).eval()


def save_open_clip_folder(model: Any, model_cfg: dict[str, Any], out: Path) -> Path:
    """Save a CLIP in open_clip's hub layout, which `load_open_clip('local', out)` reads back."""
    return save_open_clip(model, model_cfg, out)
