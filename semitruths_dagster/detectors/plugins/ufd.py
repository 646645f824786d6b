"""UniversalFakeDetect (Ojha et al., CVPR 2023): frozen CLIP ViT-L/14 image features -> Linear(768, 1).

Paper code (WisconsinAIVision/UniversalFakeDetect `validate.py`, `models/clip_models.py`): CenterCrop(224)
with no resize, ToTensor, CLIP mean/std; `fc(clip.encode_image(x))`, `.sigmoid()`. Checkpoint `fc_weights.pth`
is the head only, a plain state dict {weight [1, 768], bias [1]} loaded with `model.fc.load_state_dict`. The
backbone is OpenAI's ViT-L/14 (`open_clip:ViT-L-14/openai`). Random stand-in: a tiny open_clip ViT (2 layers
of width 32) with the real 224 px input and 768-d output, so the head file has the real shapes and keys.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backbones import (
    CLIP_MEAN,
    CLIP_STD,
    OPENAI_VIT_L14,
    build_open_clip,
    load_open_clip,
    save_open_clip_folder,
    vit_l14_clip_config,
)
from ..base import Detector
from ..preprocessing import Preprocessing

FEATURES = 768  # CLIP ViT-L/14 image embedding width


class UFDModel(nn.Module):
    """CLIP image encoder (frozen) + `fc`, as `CLIPModel` in the paper code."""

    def __init__(self, clip: nn.Module, features: int = FEATURES) -> None:
        super().__init__()
        self.model = clip
        self.fc = nn.Linear(features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.model.encode_image(x))


class UniversalFakeDetect(Detector):
    PLUGIN = "universal_fake_detect"
    WEIGHT_ROLES = ("backbone", "head")
    OPTIONS = {"crop": ((int,), 224, "the centre crop side (an integer)")}

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=self.options["crop"], mean=CLIP_MEAN, std=CLIP_STD)

    def load_model(self) -> nn.Module:
        kind, ref = self.weight_ref("backbone")
        clip = load_open_clip(kind, ref, self.what("backbone"), stands_for=OPENAI_VIT_L14)
        model = UFDModel(clip, FEATURES)
        self.load_state(model.fc, "head")
        return model

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[Any, nn.Module]:
        return build_open_clip(vit_l14_clip_config(FEATURES, tiny)), nn.Linear(FEATURES, 1)

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        clip, fc = model
        save_open_clip_folder(clip, vit_l14_clip_config(FEATURES, tiny), out_dir / "backbone")
        torch.save(fc.state_dict(), out_dir / "fc_weights.pth")
        return {"backbone": str(out_dir / "backbone"), "head": str(out_dir / "fc_weights.pth")}
