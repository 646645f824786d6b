"""TruFor (Guillaro et al., CVPR 2023): RGB + Noiseprint++ fused by a dual SegFormer (CMX), with a
localization map, a confidence map and an integrity score. Licence: GRIP-UNINA's research licence
(non-commercial; LICENSE.txt in the release): the spec must say so, and the weights are never downloaded by
this project (the spec points at the unzipped `TruFor_weights.zip`).

Authors' code read (grip-unina/TruFor `test_docker/src/trufor_test.py` and, there, `trufor.yaml`, `data_core.py`,
`models/cmx/builder_np_conf.py`, `encoders/dual_segformer.py`, `decoders/MLPDecoder.py`, `net_utils.py`,
`layer_utils.py`, `models/DnCNN.py`, `utils/init_func.py`):
- input: RGB at its own size divided by 256 (not 255); Noiseprint++ (`dncnn`: 17 3x3 convs, 64 wide, BN in
  the 15 middle ones) sees it as is, its 1-channel output tiled to 3; the RGB branch gets ImageNet mean/std;
- `backbone`: two MiT-B2 streams (`patch_embed1..4` / `block1..4` / `norm1..4` and their `extra_*` twins;
  widths 64, 128, 320, 512, depths 3, 4, 6, 3, heads 1, 2, 5, 8, spatial reduction 8, 4, 2, 1, LayerNorm
  eps 1e-6 in blocks, 1e-5 in patch embeddings and reductions) exchanging features after every stage through
  `FRMs` (channel + spatial rectification, lambda 0.5) and fusing them with `FFMs` (cross attention + channel
  embedding with BatchNorm);
- `decode_head`: SegFormer's MLP decoder (512 wide; its BatchNorm eps 1e-3, set by init_weight) -> 2 logits,
  upsampled to the image (bilinear), softmax[1] = the localization map; `decode_head_conf` (the same, 1 logit,
  BatchNorm eps 1e-5): the confidence map;
- `detection` (confpool): weighted statistics pooling (min, max, mean, mean square) of the confidence and
  of the logit difference weighted by log-sigmoid(confidence) -> Linear(8, 128) -> ReLU -> Linear(128, 1);
  sigmoid = the integrity score, the plugin's image-level score.
Checkpoint `weights/trufor.pth.tar`: a dict with the state dict under 'state_dict'. The random stand-in
keeps every width (the key shapes) with one block per stage (`depths: [1, 1, 1, 1]`), a 3-conv Noiseprint++
(`np_layers: 3`) and a 32-wide decoder (`decoder_dim: 32`).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..checkpoints import resolve_weight_ref
from ..localizer import Localizer
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

DIMS = (64, 128, 320, 512)
HEADS = (1, 2, 5, 8)
SR = (8, 4, 2, 1)
FULL = {"depths": [3, 4, 6, 3], "np_layers": 17, "decoder_dim": 512}
TINY = {"depths": [1, 1, 1, 1], "np_layers": 3, "decoder_dim": 32}


class OverlapPatchEmbed(nn.Module):
    def __init__(self, cin: int, dim: int, patch: int, stride: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(cin, dim, patch, stride, patch // 2)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        x = self.proj(x)
        h, w = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), h, w


class Attention(nn.Module):
    """Efficient self-attention: keys and values from a `sr`-times reduced grid."""

    def __init__(self, dim: int, heads: int, sr: int) -> None:
        super().__init__()
        self.heads, self.sr_ratio = heads, sr
        self.q = nn.Linear(dim, dim)
        self.kv = nn.Linear(dim, dim * 2)
        self.proj = nn.Linear(dim, dim)
        if sr > 1:
            self.sr = nn.Conv2d(dim, dim, sr, sr)
            self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        q = self.q(x).reshape(b, n, self.heads, c // self.heads).transpose(1, 2)
        src = x
        if self.sr_ratio > 1:
            src = self.norm(self.sr(x.transpose(1, 2).reshape(b, c, h, w)).reshape(b, c, -1).transpose(1, 2))
        k, v = self.kv(src).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, c))


class DWConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, groups=dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        b, n, c = x.shape
        return self.dwconv(x.transpose(1, 2).reshape(b, c, h, w)).flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.dwconv = DWConv(hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        return self.fc2(F.gelu(self.dwconv(self.fc1(x), h, w)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, sr: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads, sr)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), h, w)
        return x + self.mlp(self.norm2(x), h, w)


class ChannelWeights(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim * 4, dim * 4), nn.ReLU(), nn.Linear(dim * 4, dim * 2), nn.Sigmoid())

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        b = x1.shape[0]
        x = torch.cat((x1, x2), dim=1)
        y = self.mlp(torch.cat((x.mean(dim=(2, 3)), x.amax(dim=(2, 3))), dim=1))
        return y.reshape(b, 2, self.dim, 1, 1).permute(1, 0, 2, 3, 4)


class SpatialWeights(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Conv2d(dim * 2, dim, 1), nn.ReLU(), nn.Conv2d(dim, 2, 1), nn.Sigmoid())

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x1.shape
        return self.mlp(torch.cat((x1, x2), dim=1)).reshape(b, 2, 1, h, w).permute(1, 0, 2, 3, 4)


class FRM(nn.Module):
    """Feature rectification: each stream gets half the other's features, weighted by channel and pixel."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.channel_weights = ChannelWeights(dim)
        self.spatial_weights = SpatialWeights(dim)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        c, s = self.channel_weights(x1, x2), self.spatial_weights(x1, x2)
        return x1 + 0.5 * c[1] * x2 + 0.5 * s[1] * x2, x2 + 0.5 * c[0] * x1 + 0.5 * s[0] * x1


class CrossAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.kv1 = nn.Linear(dim, dim * 2, bias=False)
        self.kv2 = nn.Linear(dim, dim * 2, bias=False)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, n, c = x1.shape

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.reshape(b, -1, self.heads, c // self.heads).transpose(1, 2)

        k1, v1 = self.kv1(x1).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        k2, v2 = self.kv2(x2).reshape(b, -1, 2, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        ctx1 = ((k1.transpose(-2, -1) @ v1) * self.scale).softmax(dim=-2)  # (B, heads, C/h, C/h): global context
        ctx2 = ((k2.transpose(-2, -1) @ v2) * self.scale).softmax(dim=-2)
        y1 = (split(x1) @ ctx2).transpose(1, 2).reshape(b, n, c)
        y2 = (split(x2) @ ctx1).transpose(1, 2).reshape(b, n, c)
        return y1, y2


class CrossPath(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.channel_proj1 = nn.Linear(dim, dim * 2)
        self.channel_proj2 = nn.Linear(dim, dim * 2)
        self.cross_attn = CrossAttention(dim, heads)
        self.end_proj1 = nn.Linear(dim * 2, dim)
        self.end_proj2 = nn.Linear(dim * 2, dim)
        self.norm1 = nn.LayerNorm(dim)
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y1, u1 = F.relu(self.channel_proj1(x1)).chunk(2, dim=-1)
        y2, u2 = F.relu(self.channel_proj2(x2)).chunk(2, dim=-1)
        v1, v2 = self.cross_attn(u1, u2)
        return (self.norm1(x1 + self.end_proj1(torch.cat((y1, v1), dim=-1))),
                self.norm2(x2 + self.end_proj2(torch.cat((y2, v2), dim=-1))))


class ChannelEmbed(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.residual = nn.Conv2d(cin, cout, 1, bias=False)
        self.channel_embed = nn.Sequential(nn.Conv2d(cin, cout, 1), nn.Conv2d(cout, cout, 3, 1, 1, groups=cout),
                                           nn.ReLU(), nn.Conv2d(cout, cout, 1), nn.BatchNorm2d(cout))
        self.norm = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.residual(x) + self.channel_embed(x))


class FFM(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.cross = CrossPath(dim, heads)
        self.channel_emb = ChannelEmbed(dim * 2, dim)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x1.shape
        y1, y2 = self.cross(x1.flatten(2).transpose(1, 2), x2.flatten(2).transpose(1, 2))
        return self.channel_emb(torch.cat((y1, y2), dim=-1).transpose(1, 2).reshape(b, 2 * c, h, w))


class DualMiT(nn.Module):
    """CMX's RGB-X MiT-B2: two streams, rectified and fused after every stage; returns the 4 fused maps."""

    def __init__(self, depths: list[int]) -> None:
        super().__init__()
        for prefix in ("", "extra_"):
            for i, dim in enumerate(DIMS):
                cin = 3 if i == 0 else DIMS[i - 1]
                patch, stride = (7, 4) if i == 0 else (3, 2)
                setattr(self, f"{prefix}patch_embed{i + 1}", OverlapPatchEmbed(cin, dim, patch, stride))
                setattr(self, f"{prefix}block{i + 1}",
                        nn.ModuleList(Block(dim, HEADS[i], SR[i]) for _ in range(depths[i])))
                setattr(self, f"{prefix}norm{i + 1}", nn.LayerNorm(dim, eps=1e-6))
        self.FRMs = nn.ModuleList(FRM(d) for d in DIMS)
        self.FFMs = nn.ModuleList(FFM(d, h) for d, h in zip(DIMS, HEADS, strict=True))

    def _stage(self, prefix: str, i: int, x: torch.Tensor) -> torch.Tensor:
        x, h, w = getattr(self, f"{prefix}patch_embed{i}")(x)
        for block in getattr(self, f"{prefix}block{i}"):
            x = block(x, h, w)
        return getattr(self, f"{prefix}norm{i}")(x).reshape(x.shape[0], h, w, -1).permute(0, 3, 1, 2).contiguous()

    def forward(self, rgb: torch.Tensor, extra: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for i in range(4):
            rgb, extra = self._stage("", i + 1, rgb), self._stage("extra_", i + 1, extra)
            rgb, extra = self.FRMs[i](rgb, extra)
            outs.append(self.FFMs[i](rgb, extra))
        return outs


class MLPDecoder(nn.Module):
    def __init__(self, classes: int, dim: int, bn_eps: float) -> None:
        super().__init__()
        for i, c in enumerate(DIMS, 1):
            setattr(self, f"linear_c{i}", nn.Module())
            getattr(self, f"linear_c{i}").proj = nn.Linear(c, dim)
        self.linear_fuse = nn.Sequential(nn.Conv2d(dim * 4, dim, 1), nn.BatchNorm2d(dim, eps=bn_eps), nn.ReLU())
        self.linear_pred = nn.Conv2d(dim, classes, 1)

    def forward(self, feats: list[torch.Tensor]) -> torch.Tensor:
        size = feats[0].shape[-2:]
        parts = []
        for i in (4, 3, 2, 1):  # the authors' concatenation order
            f = feats[i - 1]
            e = getattr(self, f"linear_c{i}").proj(f.flatten(2).transpose(1, 2)).transpose(1, 2)
            e = e.reshape(f.shape[0], -1, *f.shape[-2:])
            parts.append(e if i == 1 else F.interpolate(e, size=size, mode="bilinear", align_corners=False))
        return self.linear_pred(self.linear_fuse(torch.cat(parts, dim=1)))


def noiseprint_pp(layers: int) -> nn.Sequential:
    """Noiseprint++'s DnCNN: conv+ReLU, (conv, BN, ReLU) x (layers - 2), conv to 1 channel (keys 0..47)."""
    mods: list[nn.Module] = [nn.Conv2d(3, 64, 3, 1, 1), nn.ReLU()]
    for _ in range(layers - 2):
        mods += [nn.Conv2d(64, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU()]
    return nn.Sequential(*mods, nn.Conv2d(64, 1, 3, 1, 1))


def weighted_statistics_pooling(x: torch.Tensor, log_w: torch.Tensor | None = None) -> torch.Tensor:
    """Soft min, soft max, mean and mean square of each channel under the weights softmax(log_w)."""
    b, c = x.shape[:2]
    x = x.reshape(b, c, -1)
    log_w = torch.zeros_like(x[:, :1]) if log_w is None else log_w.reshape(b, 1, -1)
    log_w = F.log_softmax(log_w, dim=-1)
    w = log_w.exp()
    return torch.cat((-torch.logsumexp(log_w - x, dim=-1), torch.logsumexp(log_w + x, dim=-1),
                      (w * x).sum(-1), (w * x * x).sum(-1)), dim=1)


class TruForNet(nn.Module):
    """`myEncoderDecoder` of trufor.yaml (detconfcmx): forward gives (integrity score, localization map)."""

    def __init__(self, depths: list[int], np_layers: int, decoder_dim: int) -> None:
        super().__init__()
        self.backbone = DualMiT(depths)
        self.decode_head = MLPDecoder(2, decoder_dim, bn_eps=1e-3)
        self.decode_head_conf = MLPDecoder(1, decoder_dim, bn_eps=1e-5)
        self.detection = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Dropout(0.5), nn.Linear(128, 1))
        self.dncnn = noiseprint_pp(np_layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        noise = self.dncnn(x).repeat(1, 3, 1, 1)
        mean = torch.tensor(IMAGENET_MEAN).to(x).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).to(x).view(1, 3, 1, 1)
        feats = self.backbone((x - mean) / std, noise)
        size = x.shape[-2:]
        out = F.interpolate(self.decode_head(feats), size=size, mode="bilinear", align_corners=False)
        conf = F.interpolate(self.decode_head_conf(feats), size=size, mode="bilinear", align_corners=False)
        f1 = weighted_statistics_pooling(conf)
        f2 = weighted_statistics_pooling(out[:, 1:2] - out[:, 0:1], F.logsigmoid(conf))
        det = self.detection(torch.cat((f1, f2), dim=-1))
        return torch.sigmoid(det.float())[:, 0], torch.softmax(out.float(), dim=1)[:, 1:2]


class TruFor(Localizer):
    PLUGIN = "trufor"
    WEIGHT_ROLES = ("model",)
    SCORE_FROM = "detection_head"
    LICENCE = "GRIP-UNINA research licence: non-commercial use only (test_docker/LICENSE.txt)"
    OPTIONS = {
        "state_key": ((str,), "state_dict", "the checkpoint entry holding the state dict"),
        "depths": ((list,), FULL["depths"], "MiT blocks per stage, 4 integers (MiT-B2: [3, 4, 6, 3])"),
        "np_layers": ((int,), FULL["np_layers"], "Noiseprint++ convolutions (the release: 17)"),
        "decoder_dim": ((int,), FULL["decoder_dim"], "MLP decoder width (the release: 512)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        if resolve_weight_ref(spec.weights["model"], spec.base_dir)[0] == "hub":
            raise SpecError(spec.source, "weights.model", "TruFor's weights are licensed for non-commercial use "
                            "only and are never fetched by this project: read test_docker/LICENSE.txt, download "
                            "TruFor_weights.zip (grip.unina.it) yourself and point this at weights/trufor.pth.tar")
        depths = spec.options.get("depths")
        if depths is not None and (len(depths) != 4 or not all(isinstance(n, int) and n > 0 for n in depths)):
            raise SpecError(spec.source, "options.depths", f"expected 4 positive integers, got {depths!r}")

    def build_preprocessing(self) -> Preprocessing:
        # ToTensor's /255, then * 255/256 in `forward_maps`: the authors divide by 256
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def load_model(self) -> nn.Module:
        model = TruForNet(self.options["depths"], self.options["np_layers"], self.options["decoder_dim"])
        self.load_state(model, "model", key=self.options["state_key"], prefix="module.")
        return model

    def forward_maps(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.model(pixels * (255.0 / 256.0))

    RANDOM_FOLDER = "weights"
    RANDOM_CHECKPOINT = "trufor.pth.tar"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return TruForNet(**(TINY if tiny else FULL))

    @classmethod
    def random_checkpoint(cls, model: nn.Module) -> Any:
        return {"state_dict": model.state_dict(), "epoch": 0}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return dict(TINY) if tiny else {}
