"""CNNSpot (Wang et al., CVPR 2020): a ResNet-50 with one output logit.

Paper code (PeterWang512/CNNDetection `eval.py`, `data/datasets.py`, `networks/resnet.py`): no resize,
CenterCrop(224), ToTensor, ImageNet mean/std; `model(x).sigmoid()`. Checkpoints `blur_jpg_prob0.5.pth` /
`blur_jpg_prob0.1.pth` are dicts whose 'model' entry is the state dict of torchvision's ResNet-50 layout with
`fc = Linear(2048, 1)`. Random stand-in: option `layers: [1, 1, 1, 1]` (one bottleneck per stage: the same key
pattern and fc shape, ~9 M instead of 25 M parameters, so tests stay fast); `tiny=False` writes the full
ResNet-50.
"""

from __future__ import annotations

from typing import Any

from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from ..base import Detector
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

RESNET50_LAYERS = [3, 4, 6, 3]
TINY_LAYERS = [1, 1, 1, 1]


def build_resnet(layers: list[int]) -> ResNet:
    """torchvision's ResNet with bottlenecks and a single output (CNNSpot's `resnet50(num_classes=1)`)."""
    return ResNet(Bottleneck, list(layers), num_classes=1)


class CNNSpot(Detector):
    PLUGIN = "cnnspot"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "crop": ((int,), 224, "the centre crop side (an integer)"),
        "layers": ((list,), RESNET50_LAYERS, "bottlenecks per stage, 4 integers (ResNet-50: [3, 4, 6, 3])"),
        "state_key": ((str,), "model", "the checkpoint entry holding the state dict"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        layers = spec.options.get("layers")
        if layers is not None and (len(layers) != 4 or not all(isinstance(n, int) and n > 0 for n in layers)):
            raise SpecError(spec.source, "options.layers", f"expected 4 positive integers, got {layers!r}")

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=self.options["crop"], mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def load_model(self) -> nn.Module:
        model = build_resnet(self.options["layers"])
        # Checkpoints saved from nn.DataParallel prefix every key with 'module.'.
        self.load_state(model, "model", key=self.options["state_key"], prefix="module.")
        return model

    RANDOM_CHECKPOINT = "blur_jpg_prob0.5.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return build_resnet(TINY_LAYERS if tiny else RESNET50_LAYERS)

    @classmethod
    def random_checkpoint(cls, model: nn.Module) -> Any:
        # The released files also hold the optimizer state and step count beside 'model'.
        return {"model": model.state_dict(), "total_steps": 0}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"layers": TINY_LAYERS if tiny else RESNET50_LAYERS}
