"""C2P-CLIP (Tan et al., AAAI 2025): a CLIP ViT-L/14 vision tower (transformers) + `fc` on its embedding.

Authors' code (chuangchuangtan/C2P-CLIP-DeepfakeDetection `inference.py`, `data.py`, `README.md`): `CLIPModel`
('openai/clip-vit-large-patch14') with the text tower, text projection and logit scale deleted and
`model.fc = Linear(768, 1)`; forward = `visual_projection(vision_model(x).pooler_output)`, L2-normalised,
then `fc`; `sigmoid` is P(fake). Test transform: Resize(224) (bilinear), CenterCrop(224), ToTensor, CLIP
mean/std. The released file (`C2P_CLIP_release_20240901.zip`, a zipped .pth: extract it) is a plain state
dict of the whole wrapper loaded strictly: keys `model.vision_model.*`, `model.visual_projection.weight`,
`model.fc.{weight,bias}`; the checkpoint holds the vision tower too, so the architecture comes from a
config (ViT-L/14's, written below as data) and no CLIP download is needed. Random stand-in: the same keys
with a 2-layer, 32-wide tower (option `vision_config`) and the real 768-d projection and head.

Key layouts: the authors' `CLIPModel` (transformers 4.25 / 4.42, README) holds the tower's modules directly
under `vision_model.` (a `CLIPVisionTransformer`; in transformers 5 a flat `CLIPVisionModel`), while a
transformers-4 `CLIPVisionModel`, as this plugin builds, nests them once more (`vision_model.vision_model.`).
Both file layouts load into whichever the installed transformers builds (`fit_tower_layout`).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..backbones import CLIP_MEAN, CLIP_STD
from ..base import Detector
from ..checkpoints import load_into, read_tensors, select_state_dict, strip_prefix
from ..preprocessing import Preprocessing

# transformers' CLIPVisionConfig of openai/clip-vit-large-patch14 (what the authors' from_pretrained builds).
VIT_L14 = {
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "num_hidden_layers": 24,
    "num_attention_heads": 16,
    "patch_size": 14,
    "image_size": 224,
    "projection_dim": 768,
    "hidden_act": "quick_gelu",
    "layer_norm_eps": 1e-5,
}
TINY = VIT_L14 | {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 2, "num_attention_heads": 2,
                  "patch_size": 32}
CHECKPOINT = "C2P_CLIP_release_20240901.pth"
TOWER = "model.vision_model."
NESTED = TOWER + "vision_model."  # a transformers-4 CLIPVisionModel inside the wrapper


def fit_tower_layout(state: dict[str, torch.Tensor], nested: bool) -> dict[str, torch.Tensor]:
    """`state` with its tower keys as `model.vision_model.X` (the authors' CLIPModel, any transformers; a
    transformers-5 CLIPVisionModel) or, if `nested`, `model.vision_model.vision_model.X` (a transformers-4
    CLIPVisionModel). Other keys are kept as they are."""
    out = {}
    for key, value in state.items():
        if key.startswith(TOWER):
            rest = key.removeprefix(NESTED) if key.startswith(NESTED) else key.removeprefix(TOWER)
            key = (NESTED if nested else TOWER) + rest
        out[key] = value
    return out


class _Wrapped(nn.Module):
    """`CLIPModel` minus its text parts: the attribute names of the authors' `self.model`."""

    def __init__(self, vision_config: dict[str, Any]) -> None:
        from transformers import CLIPVisionConfig, CLIPVisionModel

        super().__init__()
        config = CLIPVisionConfig(**vision_config)
        self.vision_model = CLIPVisionModel(config)
        self.visual_projection = nn.Linear(config.hidden_size, config.projection_dim, bias=False)
        self.fc = nn.Linear(config.projection_dim, 1)


class C2PCLIPModel(nn.Module):
    def __init__(self, vision_config: dict[str, Any]) -> None:
        super().__init__()
        self.model = _Wrapped(vision_config)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = self.model.vision_model(pixel_values=x).pooler_output
        embeds = self.model.visual_projection(pooled)
        return self.model.fc(embeds / embeds.norm(p=2, dim=-1, keepdim=True))


class C2PCLIP(Detector):
    PLUGIN = "c2p_clip"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "vision_config": ((dict,), VIT_L14, "transformers CLIPVisionConfig fields of the tower (ViT-L/14's)"),
        "resize": ((int,), 224, "the shorter side after resizing (the authors' loadSize)"),
        "crop": ((int,), 224, "the centre crop side (cropSize)"),
        "filename": ((str,), CHECKPOINT, "the file inside a local folder or hub repo"),
    }

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=self.options["resize"], crop=self.options["crop"], mean=CLIP_MEAN, std=CLIP_STD)

    def load_model(self) -> nn.Module:
        model = C2PCLIPModel(VIT_L14 | dict(self.options["vision_config"]))
        path = self.weight_file("model", self.options["filename"])
        what = self.what("model")
        state = strip_prefix(select_state_dict(read_tensors(path, what), None, path, what), "module.")
        nested = any(k.startswith(NESTED) for k in model.state_dict())  # what the installed transformers builds
        load_into(model, fit_tower_layout(state, nested), path, what)
        return model

    RANDOM_CHECKPOINT = CHECKPOINT

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return C2PCLIPModel(TINY if tiny else VIT_L14)

    @classmethod
    def random_checkpoint(cls, model: nn.Module) -> Any:
        return fit_tower_layout(model.state_dict(), nested=False)  # the authors' keys

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"vision_config": TINY} if tiny else {}
