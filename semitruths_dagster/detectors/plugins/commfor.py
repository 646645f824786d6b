"""Community Forensics (Park & Owens, CVPR 2025): timm ViT-S/16 with a one-logit head.

Paper code (JeongsooP/Community-Forensics `models.py` `ViTClassifier`, `dataloader.py` `get_transform`):
`timm.create_model('vit_small_patch16_384.augreg_in21k_ft_in1k')` with `vit.head = Linear(384, 1)`;
preprocessing Resize(440), CenterCrop(384), ToTensor, ImageNet mean/std (the 224 model:
`vit_small_patch16_224...`, Resize(256), CenterCrop(224)); `sigmoid(model(x))`. Weights: the hub repos
`OwensLab/commfor-model-384` / `-224` written by huggingface_hub's PyTorchModelHubMixin: `model.safetensors`
whose keys are the timm keys under the wrapper's `vit.` prefix, plus `config.json`. The `model` weight may be
that hub id, a local copy of the repo folder, or the .safetensors file itself. Random stand-in: the same timm
model with `depth: 1` (one block; real width 384, so the real key names and head shape) via `timm_kwargs`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from torch import nn

from ..base import Detector
from ..checkpoints import (
    CheckpointError,
    load_into,
    read_tensors,
    select_state_dict,
    strip_prefix,
)
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

TIMM_384 = "vit_small_patch16_384.augreg_in21k_ft_in1k"
WEIGHTS_FILE = "model.safetensors"


def build_vit(timm_model: str, timm_kwargs: dict) -> nn.Module:
    """The timm ViT with a single-logit head (pretrained=False: weights come from the checkpoint)."""
    import timm

    return timm.create_model(timm_model, pretrained=False, num_classes=1, **timm_kwargs)


class CommunityForensics(Detector):
    PLUGIN = "community_forensics"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "timm_model": ((str,), TIMM_384, "the timm model name"),
        "timm_kwargs": ((dict,), {}, "extra timm.create_model arguments (tiny stand-ins: {depth: 1})"),
        "resize": ((int,), 440, "the shorter side after resizing (224 model: 256)"),
        "crop": ((int,), 384, "the centre crop side (224 model: 224)"),
        "key_prefix": ((str,), "vit.", "prefix of the timm keys in the checkpoint (ViTClassifier.vit)"),
    }

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(
            resize=self.options["resize"], crop=self.options["crop"], mean=IMAGENET_MEAN, std=IMAGENET_STD
        )

    def _weights_file(self) -> Path:
        return self.weight_file("model", WEIGHTS_FILE)

    def load_model(self) -> nn.Module:
        vit = build_vit(self.options["timm_model"], dict(self.options["timm_kwargs"]))
        path = self._weights_file()
        state = select_state_dict(read_tensors(path, self.what("model")), None, path, self.what("model"))
        prefix = self.options["key_prefix"]
        if prefix and not any(k.startswith(prefix) for k in state):
            raise CheckpointError(
                f"{self.what('model')}: {path} has no keys under '{prefix}' (e.g. {sorted(state)[:5]})"
            )
        load_into(vit, strip_prefix(state, prefix) if prefix else state, path, self.what("model"))
        return vit

    RANDOM_FOLDER = "commfor-model-384"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return build_vit(TIMM_384, {"depth": 1} if tiny else {})

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        from safetensors.torch import save_file

        state = {f"vit.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(out_dir / WEIGHTS_FILE))
        # The mixin's config.json: ViTClassifier's constructor arguments.
        config = {"model_size": "small", "input_size": 384, "patch_size": 16, "freeze_backbone": False}
        (out_dir / "config.json").write_text(json.dumps(config, indent=2))
        return {"model": str(out_dir)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"timm_kwargs": {"depth": 1}} if tiny else {}
