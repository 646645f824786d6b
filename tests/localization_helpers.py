"""Test-only detectors for the localization tests: real torch computation on seeded random weights.

`TinyMapDetector` honours the map-output contract (`PRODUCES_MAPS`, `localize`): a two-layer conv net
whose sigmoid output, upsampled to the image's size, is the map, and whose mean is the image's P(fake).
`RedDetector` is an image-level detector whose P(fake) is the mean red value of what it sees (a 1x1
average pool of the red channel): its sliding-window map is known by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from semitruths_dagster.detectors.base import Detector
from semitruths_dagster.detectors.preprocessing import Preprocessing
from semitruths_dagster.detectors.spec import DetectorSpec


class _TinyNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 4, 3, padding=1)
        self.b = nn.Conv2d(4, 1, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(torch.relu(self.a(x)))


class TinyMapDetector(Detector):
    PLUGIN = "test_tiny_map"
    WEIGHT_ROLES = ("model",)
    RANDOM_CHECKPOINT = "tiny_map.pth"
    PRODUCES_MAPS = True

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=None, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))

    def load_model(self) -> torch.nn.Module:
        net = _TinyNet()
        self.load_state(net, "model")
        return net

    @classmethod
    def random_model(cls, tiny: bool) -> torch.nn.Module:
        return _TinyNet()

    def forward(self, pixels: torch.Tensor, texts: Sequence[str] | None = None) -> torch.Tensor:
        return self.model(pixels).mean(dim=(1, 2, 3))

    @torch.inference_mode()
    def localize(self, images: Sequence[Image.Image], batch_size: int = 8) -> tuple[np.ndarray, list[np.ndarray]]:
        scores, maps = [], []
        for image in images:
            x = self.preprocessing.apply(image, None)[None].to(self.device, self.dtype)
            logits = self.model(x)
            prob = torch.sigmoid(F.interpolate(logits, size=(image.size[1], image.size[0]), mode="bilinear"))
            maps.append(prob[0, 0].float().cpu().numpy())
            scores.append(float(torch.sigmoid(logits.mean())))
        return np.asarray(scores, dtype=np.float64), maps


class _RedMean(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :1].mean(dim=(1, 2, 3))


class RedDetector(Detector):
    """P(fake) = sigmoid(logit) where logit = mean red value in [0, 1] mapped by logit(): i.e. P = mean red."""

    PLUGIN = "test_red"
    WEIGHT_ROLES = ()

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> torch.nn.Module:
        return _RedMean()

    @classmethod
    def random_model(cls, tiny: bool) -> torch.nn.Module:
        return _RedMean()

    def to_probability(self, outputs: torch.Tensor) -> torch.Tensor:
        return outputs.float()


def tiny_map_detector(folder: Path, seed: int = 0) -> TinyMapDetector:
    written = TinyMapDetector.save_random_weights(folder, seed=seed)
    spec = DetectorSpec(name="tiny-map-random", plugin=TinyMapDetector.PLUGIN, version="1",
                        weights=written.weights, random_weights=True)
    return TinyMapDetector(spec)


def red_detector() -> RedDetector:
    return RedDetector(DetectorSpec(name="red", plugin=RedDetector.PLUGIN, version="1", weights={}))
