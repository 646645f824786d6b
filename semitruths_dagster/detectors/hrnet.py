"""HRNet (Sun et al., CVPR 2019) as the image-forensics localizers use it: parallel branches at 1, 1/2,
1/4, 1/8 of the stem's resolution, fused by summation after every stage.

Module names follow the HRNet reference code that PSCC-Net and CAT-Net vendor (`conv1`, `bn1`, `conv2`,
`bn2`, `layer1`, `transition{1,2,3}`, `stage{2,3,4}.<module>.branches.<b>.<block>`,
`...fuse_layers.<i>.<j>`), so their released state dicts load strictly. Fusion upsamples with bilinear
interpolation (align_corners=True) to the target branch's size, as that code does. `stem_stride` is 1 in
PSCC-Net (features at full resolution) and 2 in the original HRNet.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

BN_MOMENTUM = 0.01


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, momentum=BN_MOMENTUM)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = _bn(planes)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 expansion: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = _bn(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = _bn(planes)
        self.conv3 = nn.Conv2d(planes, planes * expansion, 1, bias=False)
        self.bn3 = _bn(planes * expansion)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn3(self.conv3(F.relu(self.bn2(self.conv2(out)))))
        return F.relu(out + (x if self.downsample is None else self.downsample(x)))


def make_layer(block: type, inplanes: int, planes: int, blocks: int, stride: int = 1,
               expansion: int | None = None) -> nn.Sequential:
    """`blocks` residual blocks; the first projects with a 1x1 conv + BN (`downsample`) when shapes change."""
    expansion = block.expansion if expansion is None else expansion
    extra = {"expansion": expansion} if block is Bottleneck else {}
    downsample = None
    if stride != 1 or inplanes != planes * expansion:
        downsample = nn.Sequential(nn.Conv2d(inplanes, planes * expansion, 1, stride, bias=False),
                                   _bn(planes * expansion))
    layers = [block(inplanes, planes, stride, downsample, **extra)]
    layers += [block(planes * expansion, planes, **extra) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class HighResolutionModule(nn.Module):
    """Branches of BasicBlocks, then every branch receives the sum of all branches resampled to its size."""

    def __init__(self, blocks: Sequence[int], channels: Sequence[int]) -> None:
        super().__init__()
        n = len(channels)
        self.branches = nn.ModuleList(make_layer(BasicBlock, c, c, b) for b, c in zip(blocks, channels, strict=True))
        self.fuse_layers = None if n == 1 else nn.ModuleList(
            nn.ModuleList(self._fuse(channels, i, j) for j in range(n)) for i in range(n))

    @staticmethod
    def _fuse(channels: Sequence[int], i: int, j: int) -> nn.Module | None:
        if j > i:  # a lower resolution: 1x1 conv to branch i's width (upsampled in forward)
            return nn.Sequential(nn.Conv2d(channels[j], channels[i], 1, 1, 0, bias=False), _bn(channels[i]))
        if j == i:
            return None
        steps = []  # a higher resolution: stride-2 3x3 convs, ReLU between them
        for k in range(i - j):
            last = k == i - j - 1
            out = channels[i] if last else channels[j]
            layer = [nn.Conv2d(channels[j], out, 3, 2, 1, bias=False), _bn(out)]
            steps.append(nn.Sequential(*layer) if last else nn.Sequential(*layer, nn.ReLU()))
        return nn.Sequential(*steps)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs, strict=True)]
        if self.fuse_layers is None:
            return xs
        out = []
        for i, row in enumerate(self.fuse_layers):
            y = xs[0] if i == 0 else row[0](xs[0])
            for j in range(1, len(xs)):
                if j == i:
                    y = y + xs[j]
                elif j > i:
                    y = y + F.interpolate(row[j](xs[j]), size=xs[i].shape[-2:], mode="bilinear", align_corners=True)
                else:
                    y = y + row[j](xs[j])
            out.append(F.relu(y))
        return out


class HRNet(nn.Module):
    """Stem (two 3x3 convs), layer1 (Bottlenecks), then stages 2-4 with 2, 3, 4 branches; returns the 4
    branch outputs. `channels`: widths of stages 2-4's branches (w18: 18, 36, 72, 144); `blocks`: blocks per
    branch; `layer1`: Bottlenecks in stage 1; `modules`: HighResolutionModules per stage 2-4."""

    def __init__(self, channels: Sequence[int] = (18, 36, 72, 144), blocks: int = 2, layer1: int = 2,
                 modules: Sequence[int] = (1, 1, 1), stem_stride: int = 1, stem_width: int = 64) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, stem_width, 3, stem_stride, 1, bias=False)
        self.bn1 = _bn(stem_width)
        self.conv2 = nn.Conv2d(stem_width, stem_width, 3, stem_stride, 1, bias=False)
        self.bn2 = _bn(stem_width)
        self.layer1 = make_layer(Bottleneck, stem_width, 64, layer1)
        previous = [64 * Bottleneck.expansion]
        for stage in (2, 3, 4):
            widths = list(channels[:stage])
            setattr(self, f"transition{stage - 1}", self._transition(previous, widths))
            setattr(self, f"stage{stage}", nn.Sequential(*(
                HighResolutionModule([blocks] * stage, widths) for _ in range(modules[stage - 2]))))
            previous = widths

    @staticmethod
    def _transition(before: Sequence[int], after: Sequence[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, width in enumerate(after):
            if i < len(before):
                layers.append(None if before[i] == width else nn.Sequential(
                    nn.Conv2d(before[i], width, 3, 1, 1, bias=False), _bn(width), nn.ReLU()))
                continue
            steps = []
            for k in range(i + 1 - len(before)):
                out = width if k == i - len(before) else before[-1]
                steps.append(nn.Sequential(nn.Conv2d(before[-1], out, 3, 2, 1, bias=False), _bn(out), nn.ReLU()))
            layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = F.relu(self.bn1(self.conv1(x)))
        xs = [self.layer1(F.relu(self.bn2(self.conv2(x))))]
        for stage in (2, 3, 4):
            transition = getattr(self, f"transition{stage - 1}")
            xs = [xs[i] if t is None and i < len(xs) else t(xs[min(i, len(xs) - 1)])
                  for i, t in enumerate(transition)]
            xs = getattr(self, f"stage{stage}")(xs)
        return xs
