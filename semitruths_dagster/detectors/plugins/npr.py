"""NPR (Tan et al., CVPR 2024): neighbouring pixel relationships through a ResNet-50 cut after layer2.

Paper code (chuangchuangtan/NPR-DeepfakeDetection `networks/resnet.py`, `test.py`): NPR = x - up(down(x)) with
nearest-neighbour interpolation at factor 0.5 and back (`recompute_scale_factor=True`); `conv1` (3x3, stride
2) takes NPR * 2/3; then bn, relu, maxpool, layer1, layer2 (bottlenecks, 512 channels), global average pool,
`fc1 = Linear(512, 1)`. Test-time preprocessing (`test.py`): no crop, ImageNet mean/std; a resize to
`loadSize` only for sets of mixed shapes (option `resize`, default none: Semi-Truths images share one size).
Checkpoint `NPR.pth`: a plain state dict loaded strictly. The network has only 1.4 M parameters but runs
layer1 at a quarter of the input resolution (~8 GMAC for a 512-px image), so the random stand-in takes option
`layers: [1, 1]` (one bottleneck per stage: the same key pattern, ~3x less compute); `tiny=False` writes the
real [3, 4].
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck

from ..base import Detector
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

NPR_LAYERS = [3, 4]  # the paper's ResNet-50 bottlenecks in layer1 and layer2
TINY_LAYERS = [1, 1]


class NPRNet(nn.Module):
    """The NPR ResNet; attribute names match the released state dict (torchvision's Bottleneck keys)."""

    def __init__(self, layers: list[int] | None = None) -> None:
        super().__init__()
        layers = layers or NPR_LAYERS
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc1 = nn.Linear(512, 1)
        for m in self.modules():  # the paper code's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(
                    self.inplanes, planes * Bottleneck.expansion, kernel_size=1, stride=stride, bias=False
                ),
                nn.BatchNorm2d(planes * Bottleneck.expansion),
            )
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    @staticmethod
    def npr(x: torch.Tensor) -> torch.Tensor:
        """x minus its nearest-neighbour down- then up-sampled copy (the paper's `interpolate(x, 0.5)`)."""
        down = F.interpolate(x, scale_factor=0.5, mode="nearest", recompute_scale_factor=True)
        return x - F.interpolate(down, scale_factor=2.0, mode="nearest", recompute_scale_factor=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(self.npr(x) * 2.0 / 3.0)
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc1(torch.flatten(self.avgpool(x), 1))


class NPR(Detector):
    PLUGIN = "npr"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "resize": ((int,), None, "resize both sides to this (the paper's loadSize, e.g. 256), or null"),
        "state_key": ((str,), None, "the checkpoint entry holding the state dict, or null for a plain one"),
        "layers": ((list,), NPR_LAYERS, "bottlenecks in layer1 and layer2, 2 integers (the paper: [3, 4])"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        layers = spec.options.get("layers")
        if layers is not None and (len(layers) != 2 or not all(isinstance(n, int) and n > 0 for n in layers)):
            raise SpecError(spec.source, "options.layers", f"expected 2 positive integers, got {layers!r}")

    def build_preprocessing(self) -> Preprocessing:
        size = self.options["resize"]
        return Preprocessing(
            resize=None if size is None else (size, size),
            crop=None,
            mean=IMAGENET_MEAN,
            std=IMAGENET_STD,
            even=True,
        )

    def load_model(self) -> nn.Module:
        model = NPRNet(self.options["layers"])
        self.load_state(model, "model", key=self.options["state_key"], prefix="module.")
        return model

    RANDOM_CHECKPOINT = "NPR.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return NPRNet(TINY_LAYERS if tiny else NPR_LAYERS)

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"layers": TINY_LAYERS if tiny else NPR_LAYERS}
