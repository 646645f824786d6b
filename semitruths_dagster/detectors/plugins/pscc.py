"""PSCC-Net (Liu et al., IEEE TCSVT 2022): progressive spatio-channel correlation for image manipulation
detection and localization. MIT licence.

Authors' code read (proteus1991/PSCC-Net `test.py`, `models/seg_hrnet.py`, `models/seg_hrnet_config.py`,
`models/NLCDetection.py`, `models/detection_head.py`, `utils/config.py`, `utils/load_vdata.py`):
- input: the RGB image at its own size, `/ 255`, no normalisation, no resize;
- FENet: HRNet-W18-small-v2 widths (18, 36, 72, 144), 2 blocks per branch, 2 Bottlenecks in layer1, one
  module per stage, with a stride-1 stem (features at full resolution);
- the four features are resized to `crop_size` (256 x 256; /2, /4, /8 for the others; bilinear,
  align_corners=True) when the image is not 256 x 256, in both heads;
- SegNet (NLCDetection): non-local spatial + channel attention masks from the coarsest scale up, each
  scale multiplied by the upsampled mask of the one below; `mask1` is the localization map (already a
  sigmoid), upsampled to the image (bilinear, align_corners=True);
- ClsNet (DetectionHead): HRNet classification head (Bottlenecks of expansion 2, stride-2 downsampling,
  1x1 conv to 128, global average pool, 128 -> 16 -> 2); P(fake) = softmax[:, 1] (the method's own
  image-level score).
Checkpoints: three plain state dicts saved from `nn.DataParallel` (keys prefixed `module.`):
`checkpoint/HRNet_checkpoint/HRNet.pth`, `checkpoint/NLCDetection_checkpoint/NLCDetection.pth`,
`checkpoint/DetectionHead_checkpoint/DetectionHead.pth` (roles `fenet`, `segnet`, `clsnet`). The random
stand-in keeps every width (the key shapes) and uses one block per branch and one Bottleneck in layer1
(option `blocks: 1`, `layer1: 1`) and resizes the features to 64 instead of 256 (`crop_size: 64`; the
non-local attention's cost grows with the fourth power of the side).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..hrnet import Bottleneck, HRNet, make_layer
from ..localizer import Localizer
from ..preprocessing import Preprocessing

CHANNELS = (18, 36, 72, 144)  # seg_hrnet_config STAGE4.NUM_CHANNELS
CROP_SIZE = 256  # utils/config.py crop_size
TINY_CROP = 64  # the stand-in's: the non-local attention of the 1/4 level costs (crop/4)^4
RELEASE = {"fenet": ("HRNet_checkpoint", "HRNet.pth"), "segnet": ("NLCDetection_checkpoint", "NLCDetection.pth"),
           "clsnet": ("DetectionHead_checkpoint", "DetectionHead.pth")}


class NonLocalMask(nn.Module):
    """Spatial and channel non-local attention on a feature reshaped to `reduce`-times fewer pixels."""

    def __init__(self, channels: int, reduce: int) -> None:
        super().__init__()
        self.r = reduce
        self.ic = channels * reduce * reduce
        self.g = nn.Conv2d(self.ic, self.ic, 1)
        self.theta = nn.Conv2d(self.ic, self.ic, 1)
        self.phi = nn.Conv2d(self.ic, self.ic, 1)
        self.W_s = nn.Conv2d(channels, channels, 1)
        self.W_c = nn.Conv2d(channels, channels, 1)
        self.gamma_s = nn.Parameter(torch.ones(1))
        self.gamma_c = nn.Parameter(torch.ones(1))
        self.getmask = nn.Sequential(nn.Conv2d(channels, 16, 3, 1, 1), nn.ReLU(), nn.Conv2d(16, 1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        x1 = x.reshape(b, self.ic, h // self.r, w // self.r)  # a plain reshape, as the authors' code does
        g = self.g(x1).view(b, self.ic, -1).permute(0, 2, 1)
        theta = self.theta(x1).view(b, self.ic, -1)
        phi = self.phi(x1).view(b, self.ic, -1)
        y_s = torch.matmul(F.softmax(torch.matmul(theta.permute(0, 2, 1), phi), dim=-1), g)
        y_s = y_s.permute(0, 2, 1).contiguous().view(b, c, h, w)
        y_c = torch.matmul(g, F.softmax(torch.matmul(theta, phi.permute(0, 2, 1)), dim=-1)).view(b, c, h, w)
        z = x + self.gamma_s * self.W_s(y_s) + self.gamma_c * self.W_c(y_c)
        return torch.sigmoid(self.getmask(z))


def to_crop_size(feats: list[torch.Tensor], crop: int) -> list[torch.Tensor]:
    """The four features at crop, crop/2, crop/4, crop/8 (both heads do this unless s1 already is)."""
    if tuple(feats[0].shape[-2:]) == (crop, crop):
        return feats
    return [F.interpolate(f, size=(crop // 2**i, crop // 2**i), mode="bilinear", align_corners=True)
            for i, f in enumerate(feats)]


class NLCDetection(nn.Module):
    def __init__(self, channels: tuple[int, ...] = CHANNELS, crop: int = CROP_SIZE) -> None:
        super().__init__()
        self.crop = crop
        self.getmask4 = NonLocalMask(channels[3], 1)
        self.getmask3 = NonLocalMask(channels[2], 2)
        self.getmask2 = NonLocalMask(channels[1], 2)
        self.getmask1 = NonLocalMask(channels[0], 4)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        s1, s2, s3, s4 = to_crop_size(feats, self.crop)
        mask = self.getmask4(s4)
        for s, head in ((s3, self.getmask3), (s2, self.getmask2), (s1, self.getmask1)):
            up = F.interpolate(mask, size=s.shape[-2:], mode="bilinear", align_corners=True)
            mask = head(s * up)
        return mask  # mask1: P(manipulated) per pixel at crop x crop


class DetectionHead(nn.Module):
    def __init__(self, channels: tuple[int, ...] = CHANNELS, crop: int = CROP_SIZE) -> None:
        super().__init__()
        self.crop = crop
        self.incre_modules = nn.ModuleList(make_layer(Bottleneck, c, c, 1, expansion=2) for c in channels)
        self.downsamp_modules = nn.ModuleList(
            nn.Sequential(nn.Conv2d(2 * channels[i], 2 * channels[i + 1], 3, 2, 1),
                          nn.BatchNorm2d(2 * channels[i + 1], momentum=0.01), nn.ReLU())
            for i in range(len(channels) - 1))
        self.final_layer = nn.Sequential(nn.Conv2d(2 * channels[3], 128, 1), nn.BatchNorm2d(128, momentum=0.01),
                                         nn.ReLU())
        self.classifier = nn.Sequential(nn.Linear(128, 16), nn.ReLU(), nn.Linear(16, 2))

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        s = to_crop_size(feats, self.crop)
        y = self.incre_modules[0](s[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](s[i + 1]) + down(y)
        y = self.final_layer(y).mean(dim=(2, 3))
        return self.classifier(y)


class PSCCNet(nn.Module):
    """The three networks of the release: FENet (HRNet), SegNet (NLCDetection), ClsNet (DetectionHead)."""

    def __init__(self, blocks: int = 2, layer1: int = 2, crop: int = CROP_SIZE) -> None:
        super().__init__()
        self.fenet = HRNet(CHANNELS, blocks=blocks, layer1=layer1, stem_stride=1)
        self.segnet = NLCDetection(CHANNELS, crop)
        self.clsnet = DetectionHead(CHANNELS, crop)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.fenet(x)
        mask = F.interpolate(self.segnet(feats), size=x.shape[-2:], mode="bilinear", align_corners=True)
        return torch.softmax(self.clsnet(feats).float(), dim=1)[:, 1], mask


class PSCC(Localizer):
    PLUGIN = "pscc_net"
    WEIGHT_ROLES = ("fenet", "segnet", "clsnet")
    OUTPUT = "softmax"
    SCORE_FROM = "detection_head"
    LICENCE = "MIT"
    OPTIONS = {
        "blocks": ((int,), 2, "BasicBlocks per HRNet branch (the release: 2)"),
        "layer1": ((int,), 2, "Bottlenecks in HRNet's layer1 (the release: 2)"),
        "crop_size": ((int,), CROP_SIZE, "the side both heads resize the features to (the release: 256)"),
    }

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> nn.Module:
        o = self.options
        model = PSCCNet(o["blocks"], o["layer1"], o["crop_size"])
        for role in self.WEIGHT_ROLES:
            self.load_state(getattr(model, role), role, prefix="module.")
        return model

    def forward_maps(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(pixels)

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return PSCCNet(1, 1, TINY_CROP) if tiny else PSCCNet()

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        weights = {}
        for role, (folder, name) in RELEASE.items():  # the release's checkpoint/ folder, DataParallel keys
            path = out_dir / "checkpoint" / folder / name
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save({f"module.{k}": v for k, v in getattr(model, role).state_dict().items()}, path)
            weights[role] = str(path)
        return weights

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"blocks": 1, "layer1": 1, "crop_size": TINY_CROP} if tiny else {}
