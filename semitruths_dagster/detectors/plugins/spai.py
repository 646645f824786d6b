"""SPAI (Karageorgiou et al., CVPR 2025): spectral reconstruction similarity on an MFM ViT-B/16, any resolution.

Paper code (mever-team/spai `spai/models/sid.py`, `vision_transformer.py`, `filters.py`, `utils.py`,
`spai/data/data_finetune.py`, `spai/config.py`, `configs/spai.yaml`, `__main__.py` test loop):
 - input (test, `ORIGINAL_RESOLUTION`): the image at its own size, each side shorter than 224 padded to
   224 (albumentations PadIfNeeded: centred, reflect-101), scaled to [0, 1] (Normalize(0, 1)): the
   `Preprocessing` below;
 - the image is cut into 224x224 patches at stride 224 (remainder dropped); fewer than
   `MINIMUM_PATCHES` (4) -> torchvision's five_crop(224) instead;
 - each patch: x, its low frequencies (centred 2-D FFT inside a radius-16 disc, `frequencies_mask`) and
   the high-frequency residual, each clamped to [0, 1] and ImageNet-normalised, through the MFM ViT-B/16
   (blocks' patch tokens of all 12 layers); per layer a Projector (LayerNorm, 2 Linear 768 -> 1024,
   LayerNorm); cosine similarities x/low, x/high, low/high over tokens -> mean and std per layer (72
   values) + a layer-weighted (`alpha`) projection of x's token mean and std (1024) = 1096 per patch;
 - a learned query attends over the patches (12 heads, 1536-d), LayerNorm, MLP head (ratio 3) -> 1 logit,
   P(fake) = sigmoid.
Checkpoint (`save_checkpoint`): `{'model': state_dict, 'optimizer', 'lr_scheduler', 'max_accuracy', 'epoch',
'config'}` of `PatchBasedMFViT`; keys `mfvit.vit.*` (including the MFM ViT's unused `cls_blocks`,
`cls_pos_embed`, `actual_cls_token`, `fc_norm`, `intermediate_fc_norm`, `head`), `mfvit.frequencies_mask`,
`mfvit.features_processor.*`, `to_kv`, `patch_aggregator`, `to_out.0`, `norm`, `cls_head.head.{0,3,6}`.
Its 'config' is a pickled yacs CfgNode, which the safe loader refuses: load it with `allow_pickle: true`
(and `pip install yacs`), or convert it to a plain state dict once. Random stand-in: the same modules with
`arch` {embed_dim 32, depth 2, 2 heads, 2 intermediate layers, 32-d projections}; its checkpoint keeps the
layout but stores no pickled config.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF
from torch import nn

from ..base import Detector
from ..checkpoints import load_into, read_checkpoint, select_state_dict, strip_prefix
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

PATCH = 224  # DATA.IMG_SIZE and PATCH_VIT.PATCH_STRIDE
MINIMUM_PATCHES = 4
MASK_RADIUS = 16
# configs/spai.yaml (+ config.py defaults): ViT-B/16 MFM, all 12 layers, 1024-d projections.
REAL_ARCH: dict[str, Any] = {
    "patch_size": 16,
    "embed_dim": 768,
    "depth": 12,
    "num_heads": 12,
    "intermediate_layers": list(range(12)),
    "projection_dim": 1024,
    "attn_embed_dim": 1536,
    "attn_heads": 12,
    "head_mlp_ratio": 3,
    "vit_classes": 2,
}
TINY_ARCH: dict[str, Any] = {
    **REAL_ARCH,
    "embed_dim": 32,
    "depth": 2,
    "num_heads": 2,
    "intermediate_layers": [0, 1],
    "projection_dim": 32,
    "attn_embed_dim": 32,
    "attn_heads": 2,
}


def layer_norm(dim: int) -> nn.LayerNorm:
    return nn.LayerNorm(dim, eps=1e-6)  # build_vit's norm_layer


class Attention(nn.Module):
    """BEiT-style attention: qkv without bias, separate q and v biases (k has none)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        q, k, v = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = layer_norm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = layer_norm(dim)
        self.mlp = Mlp(dim, dim * 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class MFMViT(nn.Module):
    """SPAI's VisionTransformer as configured (absolute positions, mean pooling, intermediate layers,
    returning their patch tokens); the modules it builds but never runs keep their checkpoint keys."""

    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        dim, n_int = arch["embed_dim"], len(arch["intermediate_layers"])
        tokens = (PATCH // arch["patch_size"]) ** 2 + 1
        self.intermediate_layers = tuple(arch["intermediate_layers"])
        self.patch_embed = PatchEmbed(arch["patch_size"], dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.blocks = nn.ModuleList([Block(dim, arch["num_heads"]) for _ in range(arch["depth"])])
        self.fc_norm = layer_norm(dim)
        self.cls_pos_embed = nn.Parameter(torch.zeros(1, tokens, dim))
        self.actual_cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.cls_blocks = nn.ModuleList([Block(dim, arch["num_heads"])])
        self.intermediate_fc_norm = nn.ModuleList([layer_norm(dim) for _ in range(n_int)])
        self.head = nn.Linear(dim * n_int, arch["vit_classes"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, N intermediate layers, L patch tokens, D)."""
        x = self.patch_embed(x)
        x = torch.cat((self.cls_token.expand(x.shape[0], -1, -1), x), dim=1) + self.pos_embed
        features = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.intermediate_layers:
                features.append(x[:, 1:])
        return torch.stack(features, dim=1)


class Projector(nn.Module):
    """[LayerNorm] -> (Dropout, Linear, act) x 2 -> Dropout -> LayerNorm; Linear keys `projector.1`, `.4`."""

    def __init__(self, in_dim: int, dim: int, last_act: type[nn.Module], input_norm: bool = True) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(in_dim) if input_norm else nn.Identity()
        self.projector = nn.Sequential(
            nn.Dropout(),
            nn.Linear(in_dim, dim),
            nn.GELU(),
            nn.Dropout(),
            nn.Linear(dim, dim),
            last_act(),
            nn.Dropout(),
        )
        self.norm2 = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm2(self.projector(self.norm1(x)))


class FeatureSpecificProjector(nn.Module):
    def __init__(self, n: int, in_dim: int, dim: int) -> None:
        super().__init__()
        self.projectors = nn.ModuleList([Projector(in_dim, dim, nn.Identity) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([p(x[:, i]) for i, p in enumerate(self.projectors)], dim=1)


class FeatureImportanceProjector(nn.Module):
    def __init__(self, n: int, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, n, dim))
        self.proj1 = Projector(2 * dim, dim, nn.GELU, input_norm=False)
        self.proj2 = Projector(dim, dim, nn.GELU, input_norm=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj1(torch.cat([x.mean(dim=2), x.std(dim=2)], dim=-1))
        return self.proj2((torch.softmax(self.alpha, dim=1) * x).sum(dim=1))


class FrequencyRestorationEstimator(nn.Module):
    def __init__(self, n: int, in_dim: int, dim: int) -> None:
        super().__init__()
        self.patch_projector = FeatureSpecificProjector(n, in_dim, dim)
        self.original_features_processor = FeatureImportanceProjector(n, dim)

    def forward(self, x: torch.Tensor, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        x, low, high = self.patch_projector(x), self.patch_projector(low), self.patch_projector(high)
        stats = []
        for a, b in ((x, low), (x, high), (low, high)):
            sim = F.cosine_similarity(a, b, dim=-1)  # (B, N, L)
            stats += [sim.mean(dim=-1), sim.std(dim=-1)]
        return torch.cat([*stats, self.original_features_processor(x)], dim=1)


def circular_mask(size: int, radius: int) -> torch.Tensor:
    """1 inside the centred disc of `radius` (coordinates ..., 1, 0, 0, 1, ... from the centre), else 0."""
    half = torch.arange(0, size // 2, dtype=torch.float)
    coords = torch.cat([half.flip(0), half])
    return (torch.hypot(coords[None, :], coords[:, None]) < radius).long()


class MFViT(nn.Module):
    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        self.vit = MFMViT(arch)
        n = len(arch["intermediate_layers"])
        self.features_processor = FrequencyRestorationEstimator(n, arch["embed_dim"], arch["projection_dim"])
        self.frequencies_mask = nn.Parameter(circular_mask(PATCH, MASK_RADIUS), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The FFT runs in float32 (no half-precision FFT on the CPU); the ViT runs in the model's dtype.
        spectrum = torch.fft.fftshift(torch.fft.fft2(x.float()), dim=(-2, -1))
        mask = self.frequencies_mask.to(spectrum.real.dtype)
        parts = [spectrum * mask, spectrum * (1 - mask)]
        low, high = (torch.fft.ifft2(torch.fft.ifftshift(p, dim=(-2, -1))).real.clamp(0, 1) for p in parts)
        x, low, high = (TF.normalize(t, list(IMAGENET_MEAN), list(IMAGENET_STD)).to(x.dtype) for t in (x, low, high))
        return self.features_processor(self.vit(x), self.vit(low), self.vit(high))


class PatchBasedMFViT(nn.Module):
    def __init__(self, arch: dict[str, Any]) -> None:
        super().__init__()
        self.mfvit = MFViT(arch)
        cls_dim = 6 * len(arch["intermediate_layers"]) + arch["projection_dim"]
        attn_dim, self.heads = arch["attn_embed_dim"], arch["attn_heads"]
        self.scale = (attn_dim // self.heads) ** -0.5
        self.to_kv = nn.Linear(cls_dim, attn_dim * 2, bias=False)
        self.patch_aggregator = nn.Parameter(torch.zeros(self.heads, 1, attn_dim // self.heads))
        self.to_out = nn.Sequential(nn.Linear(attn_dim, cls_dim, bias=False), nn.Dropout())
        self.norm = nn.LayerNorm(cls_dim)
        hidden = cls_dim * arch["head_mlp_ratio"]
        self.cls_head = nn.Module()
        self.cls_head.head = nn.Sequential(
            nn.Linear(cls_dim, hidden), nn.ReLU(), nn.Dropout(),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(),
            nn.Linear(hidden, 1),
        )  # fmt: skip

    @staticmethod
    def patches(image: torch.Tensor) -> torch.Tensor:
        """(L, C, 224, 224): non-overlapping patches, or the five crops when there are fewer than 4."""
        tiles = image.unfold(1, PATCH, PATCH).unfold(2, PATCH, PATCH)  # C, rows, cols, 224, 224
        tiles = tiles.permute(1, 2, 0, 3, 4).reshape(-1, image.shape[0], PATCH, PATCH)
        if tiles.shape[0] < MINIMUM_PATCHES:
            tiles = torch.stack(TF.five_crop(image, [PATCH, PATCH]))
        return tiles

    def aggregate(self, feats: torch.Tensor) -> torch.Tensor:
        """A learned query attends over one image's (L, D) patch features -> (D,)."""
        k, v = (
            t.reshape(-1, self.heads, t.shape[-1] // self.heads).transpose(0, 1)
            for t in self.to_kv(feats).chunk(2, -1)
        )
        attn = torch.softmax(self.patch_aggregator @ k.transpose(-1, -2) * self.scale, dim=-1)  # heads, 1, L
        return self.to_out((attn @ v).transpose(0, 1).reshape(1, -1))[0]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pooled = torch.stack([self.aggregate(self.mfvit(self.patches(img))) for img in images])
        return self.cls_head.head(self.norm(pooled))


class SPAI(Detector):
    PLUGIN = "spai"
    WEIGHT_ROLES = ("model",)
    OPTIONS = {
        "state_key": ((str,), "model", "the checkpoint entry holding the state dict"),
        "arch": ((dict,), {}, f"architecture numbers overriding ViT-B/16 SPAI's ({sorted(REAL_ARCH)})"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        unknown = sorted(set(spec.options.get("arch") or {}) - set(REAL_ARCH))
        if unknown:
            raise SpecError(
                spec.source, "options.arch", f"unknown keys {unknown} (known: {sorted(REAL_ARCH)})"
            )

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(
            resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), pad_to=PATCH, pad="reflect"
        )

    def load_model(self) -> nn.Module:
        model = PatchBasedMFViT({**REAL_ARCH, **self.options["arch"]})
        _, path = self.weight_ref("model")
        what = self.what("model")
        obj = read_checkpoint(path, what, self.spec.allow_pickle)
        state = strip_prefix(select_state_dict(obj, self.options["state_key"], path, what), "module.")
        load_into(model, state, path, what)
        return model

    RANDOM_CHECKPOINT = "spai.pth"

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        model = PatchBasedMFViT(TINY_ARCH if tiny else REAL_ARCH)
        for p in model.parameters():  # zeros in the constructors: random values for a stand-in
            if p.is_floating_point() and p.dim() > 1 and not p.any():
                nn.init.trunc_normal_(p, std=0.02)
        return model

    @classmethod
    def random_checkpoint(cls, model: nn.Module) -> Any:
        return {"model": model.state_dict(), "optimizer": {}, "lr_scheduler": {}, "max_accuracy": 0.0, "epoch": 0}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"arch": TINY_ARCH} if tiny else {}
