"""MVSS-Net (Chen et al., ICCV 2021; Dong et al., TPAMI 2022): multi-view multi-scale supervision for image
manipulation detection. The repository states no licence (use of the weights: ask the authors).

Authors' code read (dong03/MVSS-Net `models/mvssnet.py`, `inference.py`, `common/tools.py`,
`common/transforms.py`, `evaluate.py`), the configuration `get_mvss(sobel=True, constrain=True, nclass=1)`:
- input: the image read by OpenCV (BGR), resized to 512 x 512 (option `resize`), /255, normalised with the
  ImageNet mean/std in the order given (so the mean of R is applied to B, as the authors' code does);
- RGB view: ResNet-50 (`model.*`, torchvision key names, `fc` 2048 -> 1000 kept) with layer4 at stride 1 and
  dilation rates 1, 2, 4 (DeepLab-v3); edge branch: Sobel-gated features (fixed 3x3 Sobel convs + BN,
  `sobel_{x,y}{1..4}`) through edge residual blocks (`erb_db_*`, `erb_trans_*`; a training-only output);
- noise view: grey (0.2989 R + 0.587 G + 0.114 B of the BGR tensor) -> Bayar constrained 5x5 conv
  (`constrain_conv.kernel` (1, 3, 24): each kernel normalised to sum 1, centre -1) -> a second ResNet-50
  (`noise_extractor.model.*`);
- the two layer4 features concatenated (4096) -> dual attention head (`head`: position and channel
  attention, 1x1 conv -> 1 logit), upsampled to the input (bilinear, align_corners=True), sigmoid;
- image-level score: the map's maximum (`inference_single` / `evaluate.py`: `max(seg)`).
Checkpoint (e.g. `mvssnet_casia.pt`, Google Drive): the plain state dict, loaded strictly. The random
stand-in uses one bottleneck per ResNet stage (option `layers: [1, 1, 1, 1]`): the same key pattern.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import Bottleneck, ResNet

from ..localizer import Localizer
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

RESNET50 = [3, 4, 6, 3]
TINY_LAYERS = [1, 1, 1, 1]
SOBEL_X = ((1.0, 0.0, -1.0), (2.0, 0.0, -2.0), (1.0, 0.0, -1.0))


def dilated_resnet(layers: list[int]) -> ResNet:
    """torchvision's ResNet-50 layout with layer4 at stride 1, block i dilated by (1, 2, 4)[i]."""
    net = ResNet(Bottleneck, list(layers), num_classes=1000)
    first = net.layer4[0]
    first.conv2.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    for i, block in enumerate(net.layer4):
        rate = (1, 2, 4)[i] if i < 3 else 1
        block.conv2.dilation, block.conv2.padding = (rate, rate), (rate, rate)
    return net


class Backbone(nn.Module):
    """The authors' `ResNet50` wrapper: the network under `model`, the four stage outputs."""

    def __init__(self, layers: list[int]) -> None:
        super().__init__()
        self.model = dilated_resnet(layers)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        m = self.model
        x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
        feats = []
        for layer in (m.layer1, m.layer2, m.layer3, m.layer4):
            x = layer(x)
            feats.append(x)
        return feats


def sobel(channels: int) -> tuple[nn.Sequential, nn.Sequential]:
    """Fixed Sobel x / y convs (channels -> 1) followed by BatchNorm, as the state dict holds them."""
    out = []
    for kernel in (torch.tensor(SOBEL_X), torch.tensor(SOBEL_X).T):
        conv = nn.Conv2d(channels, 1, 3, 1, 1, bias=False)
        conv.weight = nn.Parameter(kernel.reshape(1, 1, 3, 3).repeat(1, channels, 1, 1), requires_grad=False)
        out.append(nn.Sequential(conv, nn.BatchNorm2d(1)))
    return out[0], out[1]


class ERB(nn.Module):
    """Edge residual block (the edge branch only supervises training; kept for the keys)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.bn = nn.BatchNorm2d(cout)
        self.conv3 = nn.Conv2d(cout, cout, 3, 1, 1)


class BayarConv(nn.Module):
    def __init__(self, cin: int = 1, cout: int = 3, size: int = 5) -> None:
        super().__init__()
        self.size, self.cin, self.cout = size, cin, cout
        self.kernel = nn.Parameter(torch.rand(cin, cout, size**2 - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = self.kernel / self.kernel.sum(-1, keepdim=True)  # the constraint: weights sum to 1, centre -1
        centre = self.size**2 // 2
        minus = -torch.ones(self.cin, self.cout, 1, dtype=k.dtype, device=k.device)
        full = torch.cat([k[..., :centre], minus, k[..., centre:]], dim=2)
        return F.conv2d(x, full.reshape(self.cout, self.cin, self.size, self.size), padding=self.size // 2)


def conv_bn_relu(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class PositionAttention(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv_b = nn.Conv2d(channels, channels // 8, 1)
        self.conv_c = nn.Conv2d(channels, channels // 8, 1)
        self.conv_d = nn.Conv2d(channels, channels, 1)
        self.alpha = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        att = torch.softmax(torch.bmm(self.conv_b(x).view(b, -1, h * w).permute(0, 2, 1),
                                      self.conv_c(x).view(b, -1, h * w)), dim=-1)
        out = torch.bmm(self.conv_d(x).view(b, -1, h * w), att.permute(0, 2, 1)).view(b, -1, h, w)
        return self.alpha * out + x


class ChannelAttention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        a = x.view(b, c, -1)
        att = torch.bmm(a, a.permute(0, 2, 1))
        att = torch.softmax(att.max(dim=-1, keepdim=True)[0].expand_as(att) - att, dim=-1)
        return self.beta * torch.bmm(att, a).view(b, c, h, w) + x


class DAHead(nn.Module):
    def __init__(self, cin: int, nclass: int = 1) -> None:
        super().__init__()
        mid = cin // 4
        self.conv_p1, self.conv_c1 = conv_bn_relu(cin, mid), conv_bn_relu(cin, mid)
        self.pam, self.cam = PositionAttention(mid), ChannelAttention()
        self.conv_p2, self.conv_c2 = conv_bn_relu(mid, mid), conv_bn_relu(mid, mid)
        self.out = nn.Sequential(nn.Dropout(0.1), nn.Conv2d(mid, nclass, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.conv_p2(self.pam(self.conv_p1(x))) + self.conv_c2(self.cam(self.conv_c1(x))))


class MVSSNetModel(nn.Module):
    """`get_mvss(sobel=True, constrain=True, nclass=1)`; forward gives the sigmoid map at the input size."""

    def __init__(self, layers: list[int]) -> None:
        super().__init__()
        self.model = dilated_resnet(layers)
        widths = (256, 512, 1024, 2048)
        for i, c in enumerate(widths, 1):
            setattr(self, f"erb_db_{i}", ERB(c, 1))
        for i in (1, 2, 3):
            setattr(self, f"erb_trans_{i}", ERB(1, 1))
        for i, c in enumerate(widths, 1):
            sx, sy = sobel(c)
            setattr(self, f"sobel_x{i}", sx)
            setattr(self, f"sobel_y{i}", sy)
        self.noise_extractor = Backbone(layers)
        self.constrain_conv = BayarConv()
        self.head = DAHead(2048 + 2048, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rgb = Backbone.forward(self, x)[-1]  # `self.model` is the RGB view's ResNet
        b, g, r = x[:, 0:1], x[:, 1:2], x[:, 2:3]  # the tensor is BGR
        noise = self.noise_extractor(self.constrain_conv(0.2989 * r + 0.5870 * g + 0.1140 * b))[-1]
        logits = self.head(torch.cat([rgb, noise], dim=1))
        return torch.sigmoid(F.interpolate(logits, x.shape[-2:], mode="bilinear", align_corners=True))


class MVSSNet(Localizer):
    PLUGIN = "mvss_net"
    WEIGHT_ROLES = ("model",)
    SCORE_FROM = "map_max"
    NETWORK: type[nn.Module] = MVSSNetModel
    LICENCE = "none stated in the repository (research code; ask the authors before other use)"
    OPTIONS = {
        "resize": ((int,), 512, "the square side images are resized to (inference.py --resize, 512)"),
        "layers": ((list,), RESNET50, "bottlenecks per ResNet stage, 4 integers (ResNet-50: [3, 4, 6, 3])"),
        "state_key": ((str,), None, "the checkpoint entry holding the state dict, or null (the release)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        layers = spec.options.get("layers")
        if layers is not None and (len(layers) != 4 or not all(isinstance(n, int) and n > 0 for n in layers)):
            raise SpecError(spec.source, "options.layers", f"expected 4 positive integers, got {layers!r}")

    def build_preprocessing(self) -> Preprocessing:
        side = self.options["resize"]
        return Preprocessing(resize=(side, side), crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> nn.Module:
        model = self.NETWORK(self.options["layers"])
        self.load_state(model, "model", key=self.options["state_key"], prefix="module.")
        return model

    def forward_maps(self, pixels: torch.Tensor) -> tuple[None, torch.Tensor]:
        bgr = pixels.flip(1)  # OpenCV's channel order, then the mean/std in the order the authors list them
        mean = torch.tensor(IMAGENET_MEAN).to(bgr).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).to(bgr).view(1, 3, 1, 1)
        return None, self.model((bgr - mean) / std)

    RANDOM_CHECKPOINT = "mvssnet_casia.pt"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return cls.NETWORK(TINY_LAYERS if tiny else RESNET50)

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"layers": TINY_LAYERS, "resize": 64} if tiny else {}


class ResFCNModel(nn.Module):
    """The authors' FCN baseline (`models/resfcn.py`): the same dilated ResNet-50 (`model.*`) and dual
    attention head (`head`, 2048 in), no edge branch and no noise view."""

    def __init__(self, layers: list[int]) -> None:
        super().__init__()
        self.model = dilated_resnet(layers)
        self.head = DAHead(2048, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(Backbone.forward(self, x)[-1])
        return torch.sigmoid(F.interpolate(logits, x.shape[-2:], mode="bilinear", align_corners=True))


class ResFCN(MVSSNet):
    """The FCN baseline the MVSS-Net authors publish beside it (`fcn_casia.pt`, `fcn_defacto.pt`; the
    same inference code and preprocessing, `inference.py` picks `ResFCN` for a path containing 'fcn')."""

    PLUGIN = "res_fcn"
    NETWORK = ResFCNModel
    RANDOM_CHECKPOINT = "fcn_casia.pt"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return ResFCNModel(TINY_LAYERS if tiny else RESNET50)
