"""SAFE (Li et al., KDD 2025): crop (never resize), the DWT's diagonal band, a ResNet cut after layer2.

Authors' code (Ouxiang-Li/SAFE `models/resnet.py`, `data/datasets.py`, `engine_finetune.py`,
`scripts/eval.sh`): eval transform `transform_mode 'crop'`, input 256 = CenterCrop([256, 256]) then ToTensor,
with NO normalisation; the network's first step is a one-level 2-D DWT (pytorch_wavelets `DWTForward`,
wave 'bior1.3', mode 'symmetric') whose HH band (`Yh[0][:, :, 2]`) is resized back to the input size
(bilinear); then conv1 (3x3, stride 2), bn, relu, maxpool, layer1, layer2 (bottlenecks of `resnet50`:
3 and 4 blocks, 512 channels), global average pool, `fc1 = Linear(512, 2)`; P(fake) = softmax[:, 1].
Checkpoint `checkpoint/checkpoint-best.pth`: a dict whose 'model' entry is the state dict.
The DWT is computed here from pywt's filter bank (`pywt.Wavelet('bior1.3')`) with torch convolutions, as
pytorch_wavelets does (that package does not import on current setuptools); `tests/` checks it against
`pywt.dwt2`. The network is small (1.4 M parameters), so random weights use the real architecture
(`tiny` keeps one bottleneck per stage).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

from ..base import Detector
from ..preprocessing import Preprocessing
from .npr import NPR_LAYERS, TINY_LAYERS, NPRNet

CHECKPOINT = "checkpoint-best.pth"
WAVE = "bior1.3"


def _symmetric_index(n: int, pad: int, device: torch.device) -> torch.Tensor:
    """Indices of a length-n axis extended by `pad` on both sides, half-sample symmetric (pywt 'symmetric')."""
    idx = torch.arange(-pad, n + pad, device=device)
    period = 2 * n
    idx = torch.remainder(idx, period)
    return torch.where(idx >= n, period - 1 - idx, idx)


def dwt_highpass_diagonal(x: torch.Tensor, wave: str = WAVE) -> torch.Tensor:
    """The HH (diagonal detail) band of a one-level 2-D DWT of each channel, as `pywt.dwt2(..., 'symmetric')[1][2]`:
    shape [N, C, floor((H + L - 1) / 2), floor((W + L - 1) / 2)] for a filter of length L."""
    import pywt

    hi = torch.tensor(pywt.Wavelet(wave).dec_hi, dtype=x.dtype, device=x.device)
    taps = hi.numel()
    n, c, h, w = x.shape
    for dim, size in ((3, w), (2, h)):
        x = x.index_select(dim, _symmetric_index(size, taps - 1, x.device))
        # full convolution (flipped filter) then keep odd positions: pywt's downsampling phase
        kernel = hi.flip(0).view(1, 1, *((1, taps) if dim == 3 else (taps, 1))).repeat(c, 1, 1, 1)
        x = F.conv2d(x, kernel, groups=c)
        x = x[..., 1::2] if dim == 3 else x[..., 1::2, :]
        x = x[..., : (size + taps - 1) // 2] if dim == 3 else x[..., : (size + taps - 1) // 2, :]
    return x


class SAFENet(NPRNet):
    """NPR's trunk (same layer names: conv1 3x3/2, layer1, layer2, fc1) with the DWT input and 2 outputs."""

    def __init__(self, layers: list[int] | None = None) -> None:
        super().__init__(layers)
        self.fc1 = nn.Linear(512, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        band = dwt_highpass_diagonal(x)
        x = self.conv1(TF.resize(band, [x.shape[-2], x.shape[-1]], antialias=True))
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc1(torch.flatten(self.avgpool(x), 1))


class SAFE(Detector):
    PLUGIN = "safe"
    WEIGHT_ROLES = ("model",)
    OUTPUT = "softmax"
    OPTIONS = {
        "crop": ((int,), 256, "the centre crop side (the authors' input_size; images are never resized)"),
        "layers": ((list,), NPR_LAYERS, "bottlenecks of layer1 and layer2 (resnet50's: [3, 4])"),
        "state_key": ((str,), "model", "the checkpoint entry holding the state dict"),
        "fake_index": ((int,), 1, "the output index of the fake class"),
        "filename": ((str,), CHECKPOINT, "the file inside a local folder or hub repo"),
    }

    def build_preprocessing(self) -> Preprocessing:
        # ToTensor only: mean 0, std 1 leave [0, 1] pixels as they are.
        return Preprocessing(resize=None, crop=self.options["crop"], mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> nn.Module:
        model = SAFENet(tuple(self.options["layers"]))
        path = self.weight_file("model", self.options["filename"])
        self.load_state_from(model, path, "model", key=self.options["state_key"], prefix="module.")
        return model

    RANDOM_CHECKPOINT = CHECKPOINT

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return SAFENet(tuple(TINY_LAYERS if tiny else NPR_LAYERS))

    @classmethod
    def random_checkpoint(cls, model: nn.Module) -> Any:
        # The released file also holds the epoch beside 'model' (optimizer state stripped for 'best').
        return {"model": model.state_dict(), "epoch": "best"}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"layers": TINY_LAYERS if tiny else NPR_LAYERS}
