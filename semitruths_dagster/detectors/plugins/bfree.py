"""B-Free (Guillaro et al., CVPR 2025): a timm DINOv2 ViT-B/14 with 4 registers, one logit, five 504-px crops.

Paper code (grip-unina/B-Free `code/networks/__init__.py`, `code/networks/wrapper5crops.py`,
`code/utils/normalization.py`, `code/main_bfree.py`): the arch `timm_c5i504_<timm name>` is
`timm.create_model(<timm name>, num_classes=1)` set to a 504 input; no resize, ToTensor, the config's
`norm_type` ('resnet' = ImageNet mean/std). The wrapper embeds the WHOLE image with the 14-px patch
convolution, then takes five 36x36-token crops (centre at `(tokens - 36) // 2`, top-left, bottom-left,
bottom-right, top-right); a grid smaller than 36 tokens on a side is tiled periodically and cut to 36x36 (then
all five crops coincide). Score = mean of the five logits (> 0 is fake). A patch convolution with stride =
kernel = 14 makes those token crops exactly the embeddings of pixel crops at multiples of 14 from an image
trimmed to a multiple of 14, so here the crops are taken in pixels, as data (`grid=14, crops='five',
pad='wrap', offset='floor'`), and the logits of the five crops are averaged by `Detector.forward_crops`.

Weights (the released `BFREE_dino2reg4.zip`): a folder with `config.yaml` (`weights_file`, `model_name`,
`arch`, `norm_type`) and `model_epoch_best.pth`, a dict whose 'model' entry is the plain timm state dict
(177 tensors, 86.5 M parameters; the wrapper loads `patch_embed.*` into the patch convolution and the rest
into the timm model, so no wrapper prefix). The `model` weight may be that folder, a hub repo holding the
same two files, or the .pth itself (then `options.arch` / `options.norm_type` stand in for the config).
Random stand-in: the same timm model with `timm_kwargs` {depth: 1, embed_dim: 32, num_heads: 2}.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import nn

from ..backbones import CLIP_MEAN, CLIP_STD
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, read_tensors, select_state_dict, weight_file
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

ARCH = "timm_c5i504_vit_base_patch14_reg4_dinov2.lvd142m"
ARCH_PREFIX = "timm_c5i"  # then the crop size, '_', the timm model name
CONFIG_FILE = "config.yaml"
WEIGHTS_FILE = "model_epoch_best.pth"
PATCH = 14
# utils/normalization.py get_list_norm: norm_type -> (mean, std) after ToTensor.
NORMS = {
    "resnet": (IMAGENET_MEAN, IMAGENET_STD),
    "clip": (CLIP_MEAN, CLIP_STD),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
    "xception": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
}
TINY_KWARGS = {"depth": 1, "embed_dim": 32, "num_heads": 2}


def parse_arch(arch: str) -> tuple[int, str]:
    """(crop size, timm model name) of a B-Free arch string such as `timm_c5i504_vit_base_...`."""
    size, _, timm_name = arch.removeprefix(ARCH_PREFIX).partition("_")
    if not arch.startswith(ARCH_PREFIX) or not size.isdigit() or not timm_name:
        raise ValueError(f"not a B-Free five-crop arch: {arch!r} (expected {ARCH_PREFIX}<size>_<timm model>)")
    return int(size), timm_name


def build_vit(timm_name: str, crop: int, timm_kwargs: dict[str, Any]) -> nn.Module:
    """The timm ViT with one logit at the crop size (pretrained=False: weights come from the checkpoint)."""
    import timm

    return timm.create_model(timm_name, pretrained=False, num_classes=1, img_size=crop, **timm_kwargs)


class BFree(Detector):
    PLUGIN = "bfree"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "arch": (
            (str,),
            ARCH,
            "the config's arch when the weight is a bare .pth (timm_c5i<crop>_<timm model>)",
        ),
        "norm_type": (
            (str,),
            "resnet",
            f"the config's norm_type when the weight is a bare .pth: {sorted(NORMS)}",
        ),
        "timm_kwargs": (
            (dict,),
            {},
            "extra timm.create_model arguments (tiny stand-ins: depth, embed_dim, ...)",
        ),
    }

    @cached_property
    def config(self) -> dict[str, Any]:
        """The release's config.yaml when the weight is a folder or hub repo, else the options."""
        kind, ref = self.weight_ref("model")
        if kind == "local" and not Path(ref).is_dir():
            return {
                "arch": self.options["arch"],
                "norm_type": self.options["norm_type"],
                "weights_file": None,
            }
        path = weight_file(kind, ref, CONFIG_FILE, self.what("model"))
        if not path.is_file():
            raise CheckpointError(
                f"{self.what('model')}: {ref} has no {CONFIG_FILE} (B-Free's release has one)"
            )
        config = yaml.safe_load(path.read_text()) or {}
        missing = [k for k in ("arch", "norm_type", "weights_file") if k not in config]
        if missing:
            raise CheckpointError(f"{self.what('model')}: {path} lacks the keys {missing}")
        if config["norm_type"] not in NORMS:
            raise CheckpointError(f"{self.what('model')}: {path}: unknown norm_type {config['norm_type']!r}")
        return config

    def _arch(self) -> tuple[int, str]:
        try:
            return parse_arch(self.config["arch"])
        except ValueError as exc:
            raise CheckpointError(f"{self.what('model')}: {exc}") from exc

    def build_preprocessing(self) -> Preprocessing:
        crop, _ = self._arch()
        mean, std = NORMS[self.config["norm_type"]]
        return Preprocessing(
            resize=None, crop=crop, mean=mean, std=std, grid=PATCH, crops="five", pad="wrap", offset="floor"
        )

    def load_model(self) -> nn.Module:
        crop, timm_name = self._arch()
        vit = build_vit(timm_name, crop, dict(self.options["timm_kwargs"]))
        kind, ref = self.weight_ref("model")
        path = weight_file(kind, ref, self.config["weights_file"], self.what("model"))
        state = select_state_dict(read_tensors(path, self.what("model")), "model", path, self.what("model"))
        load_into(vit, state, path, self.what("model"))
        return vit

    RANDOM_FOLDER = "BFREE_dino2reg4"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        crop, timm_name = parse_arch(ARCH)
        return build_vit(timm_name, crop, dict(TINY_KWARGS) if tiny else {})

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        torch.save({"model": model.state_dict()}, out_dir / WEIGHTS_FILE)
        config = {
            "arch": ARCH,
            "model_name": "BFREE_dino2reg4",
            "norm_type": "resnet",
            "patch_size": None,
            "weights_file": WEIGHTS_FILE,
        }
        (out_dir / CONFIG_FILE).write_text(yaml.safe_dump(config, sort_keys=True))
        return {"model": str(out_dir)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"timm_kwargs": dict(TINY_KWARGS)} if tiny else {}
