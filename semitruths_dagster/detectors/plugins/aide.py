"""AIDE (Yan et al., ICLR 2025): DCT-selected patches through two SRM-filtered ResNet-50s + frozen ConvNeXt-XXL.

Paper code (shilinyan99/AIDE `models/AIDE.py`, `data/dct.py`, `data/datasets.py` test set,
`engine_finetune.py`, `utils.py`):
 - input: ToTensor of the image at its own size (no resize, no crop);
 - patch selection (`DCT_base_Rec_Module()` defaults, the `PATCHES` data below): 32x32 windows at stride
   16; each window's orthonormal 2-D DCT is scored with 6 diagonal frequency bands of log(|DCT| + 1),
   band i weighted 2**i and averaged over its band; the two lowest-scored windows (min, min1) and the two
   highest (max, max1), each reconstructed through the all-pass level filter (the window itself);
 - the 4 patches and the whole image are each resized to 256x256 and ImageNet-normalised, stacked as
   [min, max, min1, max1, image]; `transforms.Resize([256, 256])` on a tensor, which in the authors'
   torchvision (0.12 in `requirements.txt`, 0.15.2 in `docs/install.md`) is bilinear WITHOUT antialiasing
   (tensors were antialiased by default only from 0.17): a downsized image aliases, as it did for them;
 - model: 30 fixed SRM high-pass filters (`hpf.hpf`, 5x5) on each patch; `model_min` (min, min1) and
   `model_max` (max, max1), ResNet-50s with a 30-channel 7x7 stem, pooled to 2048-d and averaged;
   the image, moved from ImageNet to CLIP normalisation, through the frozen open_clip `convnext_xxlarge`
   trunk (pooling removed: 3072x8x8, then average pooled) and `convnext_proj = Linear(3072, 256)`;
   `fc = Mlp(2304, 1024, 2)`; P(fake) = softmax[1] (`engine_finetune.py`).
Checkpoint (`save_model`): `{'model': state_dict, 'optimizer', 'epoch', 'scaler', 'args'}`; `args` is an
argparse.Namespace, which the safe loader is allowed to rebuild (plain data). The state dict is the whole
AIDE_Model's (`auto_load_model` loads it strictly), so
it carries the frozen trunk as `openclip_convnext_xxl.*` and the ResNets' unused `fc` (1000 classes).
A checkpoint without the trunk needs `weights.convnext` (open_clip `convnext_xxlarge`, e.g.
`open_clip:convnext_xxlarge/laion2b_s34b_b82k_augreg_soup`, or an open_clip folder); its `visual.trunk`
is used then. Random stand-in: ResNets with one Bottleneck per stage and a ConvNeXt trunk with one block
per stage and narrow early stages (real 3072-d output), both in the real key layout.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from ..backbones import CLIP_MEAN, CLIP_STD, load_open_clip
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, read_checkpoint, select_state_dict, strip_prefix
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

TRUNK_PREFIX = "openclip_convnext_xxl."
CONVNEXT_FEATURES = 3072
RESNET_FEATURES = 2048
TINY_RESNET = [1, 1, 1, 1]
TINY_CONVNEXT = {
    "depths": [1, 1, 1, 0],
    "dims": [8, 16, 32, CONVNEXT_FEATURES],
}  # last stage: its downsample only


@dataclass(frozen=True)
class PatchSelection:
    """AIDE's test-time input as data: DCT-scored windows and the size every view is resized to."""

    window: int = 32
    stride: int = 16
    grades: int = 6
    size: int = 256

    def dct_matrix(self) -> torch.Tensor:
        n = self.window
        i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        scale = np.where(i == 0, np.sqrt(1.0 / n), np.sqrt(2.0 / n))
        return torch.tensor(scale * np.cos((j + 0.5) * np.pi * i / n), dtype=torch.float32)

    def band_filters(self) -> torch.Tensor:
        """(grades, window, window): band g keeps frequencies with start <= u + v <= end, divided by its size."""
        n, step = self.window, 2.0 * self.window / self.grades
        uv = np.add.outer(np.arange(n), np.arange(n))
        bands = [((uv >= step * g) & (uv <= step * (g + 1))).astype(np.float32) for g in range(self.grades)]
        return torch.tensor(np.stack([b / b.sum() for b in bands]))

    def select(self, image: torch.Tensor) -> torch.Tensor:
        """(5, C, size, size) ImageNet-normalised views [min, max, min1, max1, whole] of a (C, H, W) [0, 1] image."""
        c, h, w = image.shape
        if min(h, w) < self.window:
            raise ValueError(f"AIDE needs images of at least {self.window} px per side, got {w}x{h}")
        dct = self.dct_matrix().to(image)
        patches = F.unfold(image[None], self.window, stride=self.stride)[0]  # (C*win*win, L)
        patches = patches.T.reshape(-1, c, self.window, self.window)
        coeffs = dct @ patches @ dct.T
        rebuilt = dct.T @ coeffs @ dct  # the all-pass level filter: the window itself, through the DCT
        logs = torch.log(coeffs.abs() + 1)
        weights = 2.0 ** torch.arange(self.grades, dtype=image.dtype, device=image.device)
        grade = torch.einsum("lchw,ghw,g->l", logs, self.band_filters().to(image), weights)
        order = torch.sort(grade).indices
        picks = [order[0], order[-1], order[min(1, len(order) - 1)], order[max(len(order) - 2, 0)]]
        views = [rebuilt[i] for i in picks] + [image]
        # antialias=False: the authors' torchvision default for tensors (see the module docstring).
        views = [TF.resize(v, [self.size, self.size], antialias=False) for v in views]
        return TF.normalize(torch.stack(views), list(IMAGENET_MEAN), list(IMAGENET_STD))


class HPF(nn.Module):
    """The 30 SRM filters as a fixed 5x5 convolution (weights from the checkpoint)."""

    def __init__(self) -> None:
        super().__init__()
        self.hpf = nn.Conv2d(3, 30, kernel_size=5, padding=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hpf(x)


class SRMResNet(ResNet):
    """torchvision's ResNet with AIDE's 30-channel stem; forward returns the pooled features (fc unused)."""

    def __init__(self, layers: list[int]) -> None:
        super().__init__(Bottleneck, list(layers), num_classes=1000)
        self.conv1 = nn.Conv2d(30, 64, kernel_size=7, stride=2, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)


class Mlp(nn.Module):
    def __init__(self, features: int, hidden: int, out: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(features, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


def build_trunk(timm_kwargs: dict[str, Any]) -> nn.Module:
    """open_clip's convnext_xxlarge `visual.trunk` (timm, classifier reset) with pooling and flatten removed."""
    import timm

    trunk = timm.create_model("convnext_xxlarge", pretrained=False, **timm_kwargs)
    trunk.reset_classifier(0)
    trunk.head.global_pool = nn.Identity()
    trunk.head.flatten = nn.Identity()
    return trunk


class AIDEModel(nn.Module):
    def __init__(
        self, resnet_layers: list[int], trunk_kwargs: dict[str, Any], selection: PatchSelection
    ) -> None:
        super().__init__()
        self.selection = selection
        self.hpf = HPF()
        self.model_min = SRMResNet(resnet_layers)
        self.model_max = SRMResNet(resnet_layers)
        self.fc = Mlp(RESNET_FEATURES + 256, 1024, 2)
        self.openclip_convnext_xxl = build_trunk(trunk_kwargs)
        self.convnext_proj = nn.Sequential(nn.Linear(CONVNEXT_FEATURES, 256))
        imagenet_mean, imagenet_std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        clip_mean, clip_std = torch.tensor(CLIP_MEAN), torch.tensor(CLIP_STD)
        # ImageNet-normalised -> CLIP-normalised, as the paper code converts before the CLIP ConvNeXt.
        self.register_buffer("to_clip_scale", (imagenet_std / clip_std).view(3, 1, 1), persistent=False)
        self.register_buffer(
            "to_clip_shift", ((imagenet_mean - clip_mean) / clip_std).view(3, 1, 1), persistent=False
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = torch.stack([self.selection.select(img) for img in images])  # (B, 5, C, size, size)
        tokens = x[:, 4] * self.to_clip_scale + self.to_clip_shift
        feats = self.openclip_convnext_xxl(tokens)
        x_0 = self.convnext_proj(feats.mean(dim=(2, 3)))
        x_1 = (
            self.model_min(self.hpf(x[:, 0]))
            + self.model_max(self.hpf(x[:, 1]))
            + self.model_min(self.hpf(x[:, 2]))
            + self.model_max(self.hpf(x[:, 3]))
        ) / 4
        return self.fc(torch.cat([x_0, x_1], dim=1))


class AIDE(Detector):
    PLUGIN = "aide"
    WEIGHT_ROLES = ("model",)
    OPTIONAL_WEIGHT_ROLES = ("convnext",)
    OUTPUT = "softmax"
    OPTIONS = {
        "fake_index": ((int,), 1, "index of the fake class among the 2 logits"),
        "state_key": ((str,), "model", "the checkpoint entry holding the state dict"),
        "resnet_layers": ((list,), [3, 4, 6, 3], "Bottlenecks per ResNet stage (ResNet-50: [3, 4, 6, 3])"),
        "trunk_kwargs": (
            (dict,),
            {},
            "extra timm.create_model arguments for the ConvNeXt trunk (tiny stand-ins)",
        ),
    }

    def build_preprocessing(self) -> Preprocessing:
        # ToTensor at the image's own size; the patch selection and resizing are AIDE's model input (above).
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> nn.Module:
        model = AIDEModel(self.options["resnet_layers"], dict(self.options["trunk_kwargs"]), PatchSelection())
        _, path = self.weight_ref("model")
        what = self.what("model")
        # The training script also saves its argparse `args`: plain data, allowed to the safe loader.
        obj = read_checkpoint(path, what, self.spec.allow_pickle, safe_globals=[argparse.Namespace])
        state = strip_prefix(select_state_dict(obj, self.options["state_key"], path, what), "module.")
        if not any(k.startswith(TRUNK_PREFIX) for k in state):
            if self.weight_ref("convnext") is None:
                raise CheckpointError(
                    f"{what}: {path} has no '{TRUNK_PREFIX}*' keys (the frozen ConvNeXt-XXL); give weights.convnext"
                )
            clip = load_open_clip(*self.weight_ref("convnext"), self.what("convnext"))
            trunk = {TRUNK_PREFIX + k: v for k, v in clip.visual.trunk.state_dict().items()}
            state = {**state, **trunk}
        load_into(model, state, path, what)
        return model

    RANDOM_CHECKPOINT = "progan_train.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return AIDEModel(TINY_RESNET if tiny else [3, 4, 6, 3], dict(TINY_CONVNEXT) if tiny else {}, PatchSelection())

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        # Saved like the training script's `save_model`: the state dict under 'model' beside its `args`.
        args = argparse.Namespace(model="AIDE", batch_size=32, blr=5e-4, epochs=5, output_dir=str(out_dir))
        ckpt = {"model": model.state_dict(), "optimizer": {}, "epoch": 0, "scaler": {}, "args": args}
        torch.save(ckpt, out_dir / cls.RANDOM_CHECKPOINT)
        return {"model": str(out_dir / cls.RANDOM_CHECKPOINT)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"resnet_layers": TINY_RESNET, "trunk_kwargs": dict(TINY_CONVNEXT)} if tiny else {}
