"""IML-ViT (Ma et al., 2023): a plain ViT-B/16 with windowed and global attention (ViTDet), a simple
feature pyramid and an MLP-style predict head, for image manipulation localization. MIT licence.

Authors' code read (SunnyHaze/IML-ViT `iml_vit_model.py`, `modules/window_attention_ViT.py`,
`modules/decoderhead.py`, `utils/datasets.py`, `utils/iml_transforms.py`, `Demo.ipynb`):
- input: RGB zero-padded at the bottom/right to 1024 x 1024 (albumentations PadIfNeeded, position
  top_left, value 0), then ImageNet mean/std; the map is cut back to the image's own area;
- `encoder_net`: ViT-B/16 (768 wide, 12 blocks, 12 heads, MLP x4, LayerNorm eps 1e-6, qkv bias), absolute
  position embedding of MAE's 224-px pretraining with a class token (1, 197, 768) interpolated bicubically
  to the 64 x 64 token grid (the class token's entry dropped), decomposed relative positions in every
  block, 14 x 14 windows in blocks 0, 1, 3, 4, 6, 7, 9, 10 and global attention in 2, 5, 8, 11 (the blocks
  are timm's SAM/ViTDet `Block`, whose keys and arithmetic are the authors');
- `featurePyramid_net`: ViTDet's simple feature pyramid (scales 4, 2, 1, 0.5 as `simfp_2..5`, channels-first
  LayerNorm, 256 channels) plus a stride-2 max pool of the last level;
- `predict_head`: the five levels upsampled to the 1/4 level, `linear_fuse` (1x1 conv 1280 -> 256), BatchNorm,
  `linear_predict` (1x1 conv -> 1 logit); the logits are upsampled to 1024 (bilinear) and passed through a
  sigmoid.
IML-ViT has no image-level output: the score is the map's maximum (over the image's own area).
Checkpoint `iml-vit_checkpoint.pth`: the model's plain state dict (or, for the authors' training
checkpoints, the same under 'model': option `state_key`). The random stand-in is a narrow, shallow
ViT at a 128-px input (options `embed_dim`, `depth`, `num_heads`, `input_size`, `fpn_channels`,
`head_dim`), with the same key layout.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..localizer import Localizer
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing

PATCH = 16
PRETRAIN_SIZE = 224  # MAE's; pos_embed is (1, (224/16)^2 + 1, C)
FULL = {"input_size": 1024, "embed_dim": 768, "depth": 12, "num_heads": 12, "window_size": 14,
        "fpn_channels": 256, "head_dim": 256}
TINY = {"input_size": 128, "embed_dim": 32, "depth": 3, "num_heads": 2, "window_size": 4,
        "fpn_channels": 16, "head_dim": 16}


class ChannelLayerNorm(nn.Module):
    """LayerNorm over the channels of a (B, C, H, W) tensor (detectron2's 'LN'); keys weight, bias."""

    def __init__(self, channels: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        return self.weight[:, None, None] * ((x - u) / torch.sqrt(s + self.eps)) + self.bias[:, None, None]


class NormConv(nn.Conv2d):
    """detectron2's Conv2d with a `norm` child (keys `weight`, `norm.weight`, `norm.bias`)."""

    def __init__(self, cin: int, cout: int, kernel: int) -> None:
        super().__init__(cin, cout, kernel, padding=kernel // 2, bias=False)
        self.norm = ChannelLayerNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(super().forward(x))


class PatchEmbed(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH, PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)  # (B, H, W, C)


class WindowViT(nn.Module):
    """ViTDet's plain backbone: patch embedding, absolute + relative positions, window/global blocks."""

    def __init__(self, input_size: int, dim: int, depth: int, heads: int, window: int) -> None:
        super().__init__()
        from timm.models.vision_transformer_sam import Block

        self.patch_embed = PatchEmbed(dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, (PRETRAIN_SIZE // PATCH) ** 2 + 1, dim))
        grid = (input_size // PATCH, input_size // PATCH)
        norm = partial(nn.LayerNorm, eps=1e-6)
        self.blocks = nn.ModuleList(
            Block(dim, heads, 4.0, qkv_bias=True, norm_layer=norm, use_rel_pos=True,
                  window_size=0 if (i + 1) % 3 == 0 else window, input_size=grid)
            for i in range(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        h, w = x.shape[1:3]
        pos = self.pos_embed[:, 1:]  # the class token's entry is not used
        size = int(math.sqrt(pos.shape[1]))
        pos = pos.reshape(1, size, size, -1)
        if (size, size) != (h, w):
            pos = F.interpolate(pos.permute(0, 3, 1, 2), size=(h, w), mode="bicubic",
                                align_corners=False).permute(0, 2, 3, 1)
        x = x + pos
        for block in self.blocks:
            x = block(x)
        return x.permute(0, 3, 1, 2)


class SimpleFeaturePyramid(nn.Module):
    """Levels at strides 4, 8, 16, 32 (`simfp_2..5`) from the stride-16 feature, then a stride-2 max pool."""

    def __init__(self, dim: int, channels: int) -> None:
        super().__init__()
        self.simfp_2 = nn.Sequential(nn.ConvTranspose2d(dim, dim // 2, 2, 2), ChannelLayerNorm(dim // 2), nn.GELU(),
                                     nn.ConvTranspose2d(dim // 2, dim // 4, 2, 2),
                                     NormConv(dim // 4, channels, 1), NormConv(channels, channels, 3))
        self.simfp_3 = nn.Sequential(nn.ConvTranspose2d(dim, dim // 2, 2, 2),
                                     NormConv(dim // 2, channels, 1), NormConv(channels, channels, 3))
        self.simfp_4 = nn.Sequential(NormConv(dim, channels, 1), NormConv(channels, channels, 3))
        self.simfp_5 = nn.Sequential(nn.MaxPool2d(2, 2), NormConv(dim, channels, 1), NormConv(channels, channels, 3))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        levels = [self.simfp_2(x), self.simfp_3(x), self.simfp_4(x), self.simfp_5(x)]
        return levels + [F.max_pool2d(levels[-1], kernel_size=1, stride=2)]


class PredictHead(nn.Module):
    def __init__(self, channels: int, dim: int) -> None:
        super().__init__()
        self.linear_fuse = nn.Conv2d(channels * 5, dim, 1)
        self.norm = nn.BatchNorm2d(dim)
        self.linear_predict = nn.Conv2d(dim, 1, 1)

    def forward(self, levels: list[torch.Tensor]) -> torch.Tensor:
        size = levels[0].shape[-2:]
        x = torch.cat([F.interpolate(f, size=size, mode="bilinear", align_corners=False) for f in levels], dim=1)
        return self.linear_predict(self.norm(self.linear_fuse(x)))


class IMLViTNet(nn.Module):
    """encoder_net -> featurePyramid_net -> predict_head; forward gives P(manipulated) at the input size."""

    def __init__(self, input_size: int, embed_dim: int, depth: int, num_heads: int, window_size: int,
                 fpn_channels: int, head_dim: int) -> None:
        super().__init__()
        self.input_size = input_size
        self.encoder_net = WindowViT(input_size, embed_dim, depth, num_heads, window_size)
        self.featurePyramid_net = SimpleFeaturePyramid(embed_dim, fpn_channels)
        self.predict_head = PredictHead(fpn_channels, head_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.predict_head(self.featurePyramid_net(self.encoder_net(x)))
        return torch.sigmoid(F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False))


class IMLViT(Localizer):
    PLUGIN = "iml_vit"
    WEIGHT_ROLES = ("model",)
    SCORE_FROM = "map_max"
    LICENCE = "MIT"
    OPTIONS = {
        "state_key": ((str,), None, "the checkpoint entry holding the state dict ('model' for training "
                      "checkpoints), or null for the released plain state dict"),
        **{k: ((int,), v, f"{k} of the network (the release: {v})") for k, v in FULL.items()},
    }

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=None, mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def load_model(self) -> nn.Module:
        model = IMLViTNet(**{k: self.options[k] for k in FULL})
        self.load_state(model, "model", key=self.options["state_key"], prefix="module.")
        return model

    def forward_maps(self, pixels: torch.Tensor) -> tuple[None, torch.Tensor]:
        h, w = pixels.shape[-2:]
        side = self.options["input_size"]
        # zero pixels at the bottom/right before normalisation (PadIfNeeded top_left): -mean/std after it;
        # an image larger than the input is padded to a multiple of the patch and runs at its own size
        ph, pw = max(side, -(-h // PATCH) * PATCH), max(side, -(-w // PATCH) * PATCH)
        fill = (-torch.tensor(IMAGENET_MEAN) / torch.tensor(IMAGENET_STD)).to(pixels)
        padded = fill.view(1, 3, 1, 1).expand(pixels.shape[0], 3, ph, pw).clone()
        padded[..., :h, :w] = pixels
        return None, self.model(padded)[..., :h, :w]

    RANDOM_CHECKPOINT = "iml-vit_checkpoint.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return IMLViTNet(**(TINY if tiny else FULL))

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return dict(TINY) if tiny else {}
