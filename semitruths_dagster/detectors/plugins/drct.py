"""DRCT (Chen et al., ICML 2024): a ConvNeXt-B (in22k) or CLIP ViT-L/14 embedding -> Linear(1024, 2).

Paper code (beibuwandeluori/DRCT `network/models.py`, `data/transform.py`, `scripts/train.py`,
`scripts/test_DRCT-2M.sh`): the released models are `ContrastiveModels(model_name, num_classes=2,
embedding_size=1024)`: `model` = the backbone with a 1024-d embedding head, `fc = Linear(1024, 2)`.
 - `convnext_base_in22k`: `timm.create_model('convnext_base_in22k')` with `head.fc = Linear(1024, 1024)`;
   keys `model.<timm ConvNeXt keys>`, `fc.*`.
 - `clip-ViT-L-14`: `CLIPModelV2`: OpenAI's whole CLIP ViT-L/14 (`clip.load`, text tower included) as
   `model.model.*`, `model.fc = Linear(768, 1024)` on `encode_image`, then `fc`.
Test transform (`create_val_transforms(224, is_crop=True)`, albumentations): PadIfNeeded(224, zeros),
CenterCrop(224) (offset floored), Normalize with ImageNet mean/std for BOTH backbones (the script passes no
CLIP statistics). P(fake) = softmax(logits)[1] (the test code scores `1 - p[0]`). Checkpoints
(`14_acc0.9996.pth`, ...) are plain state dicts saved from `model.module`, loaded strictly. The CLIP's
architecture is the published ViT-L/14 (published_configs.py: QuickGELU; open_clip's key names are
OpenAI's); its weights come from the DRCT file itself, so no separate backbone file is needed.
Random stand-ins: ConvNeXt with one block per stage and narrow early stages (real 1024-d output), or a tiny
CLIP (2 layers of width 32, real 768-d output), given as options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...published_configs import open_clip_model_cfg
from ..backbones import build_open_clip, seeded, tiny_clip_config
from ..base import Detector, RandomWeights
from ..checkpoints import load_into, read_tensors, select_state_dict, strip_prefix
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

EMBEDDING = 1024  # the released models' embedding_size
CLIP_FEATURES = 768  # CLIPModelV2.CHANNELS['ViT-L/14']
VARIANTS = ("convnext_base_in22k", "clip-ViT-L-14")
TINY_CONVNEXT = {"depths": [1, 1, 1, 1], "dims": [8, 16, 32, 1024]}


class ConvNeXtEmbedding(nn.Module):
    """`ContrastiveModels` around timm's ConvNeXt-B: `model` (head.fc -> 1024) then `fc`."""

    def __init__(self, timm_kwargs: dict[str, Any]) -> None:
        super().__init__()
        import timm

        self.model = timm.create_model(
            "convnext_base", pretrained=False, num_classes=EMBEDDING, **timm_kwargs
        )
        self.fc = nn.Linear(EMBEDDING, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))


class CLIPEncoder(nn.Module):
    """`CLIPModelV2`: the whole CLIP as `model`, `fc` on its image embedding."""

    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.model = clip
        self.fc = nn.Linear(CLIP_FEATURES, EMBEDDING)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model.encode_image(x))


class CLIPEmbedding(nn.Module):
    def __init__(self, clip: nn.Module) -> None:
        super().__init__()
        self.model = CLIPEncoder(clip)
        self.fc = nn.Linear(EMBEDDING, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model(x))


def build_drct(variant: str, timm_kwargs: dict[str, Any], clip_cfg: dict[str, Any] | None) -> nn.Module:
    if variant == "convnext_base_in22k":
        return ConvNeXtEmbedding(timm_kwargs)
    # Default: OpenAI's ViT-L/14 as published (QuickGELU), the same state-dict keys as `clip.load`'s model.
    return CLIPEmbedding(build_open_clip(clip_cfg or open_clip_model_cfg("openai/clip-vit-large-patch14")))


class DRCT(Detector):
    PLUGIN = "drct"
    WEIGHT_ROLES = ("model",)
    OUTPUT = "softmax"
    OPTIONS = {
        "variant": ((str,), "convnext_base_in22k", f"the backbone: one of {list(VARIANTS)}"),
        "crop": ((int,), 224, "the input size (pad with zeros, then centre crop)"),
        "fake_index": ((int,), 1, "index of the fake class among the 2 logits"),
        "timm_kwargs": ((dict,), {}, "extra timm.create_model arguments for the ConvNeXt (tiny stand-ins)"),
        "clip_cfg": ((dict,), None, "an open_clip model config replacing ViT-L/14's (tiny stand-ins)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        variant = spec.options.get("variant")
        if variant is not None and variant not in VARIANTS:
            raise SpecError(spec.source, "options.variant", f"{variant!r} is not one of {list(VARIANTS)}")

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(
            resize=None, crop=self.options["crop"], mean=IMAGENET_MEAN, std=IMAGENET_STD, offset="floor"
        )

    def load_model(self) -> nn.Module:
        model = build_drct(
            self.options["variant"], dict(self.options["timm_kwargs"]), self.options["clip_cfg"]
        )
        _, path = self.weight_ref("model")
        state = select_state_dict(read_tensors(path, self.what("model")), None, path, self.what("model"))
        load_into(model, strip_prefix(state, "module."), path, self.what("model"))
        return model

    RANDOM_CHECKPOINT = "convnext_base_in22k_224_drct_amp_crop.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        """The ConvNeXt variant (the README's first model); `save_random_clip` writes the CLIP one."""
        return build_drct("convnext_base_in22k", dict(TINY_CONVNEXT) if tiny else {}, None)

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"timm_kwargs": dict(TINY_CONVNEXT)} if tiny else {}

    @classmethod
    def save_random_clip(cls, out_dir: Path, seed: int = 0) -> RandomWeights:
        """The CLIP ViT-L/14 variant's format with a tiny CLIP (2 layers, real 768-d image embedding)."""
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        cfg = tiny_clip_config(CLIP_FEATURES, image_size=224, patch_size=32)
        with seeded(seed):
            model = build_drct("clip-ViT-L-14", {}, cfg)
        path = out_dir / "clip-ViT-L-14_224_drct_amp_crop.pth"
        torch.save(model.state_dict(), path)
        return RandomWeights(
            weights={"model": str(path)}, options={"variant": "clip-ViT-L-14", "clip_cfg": cfg}
        )
