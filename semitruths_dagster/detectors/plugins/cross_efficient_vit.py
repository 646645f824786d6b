"""CrossEfficientViT (Coccomini et al., ICIAP 2022): two EfficientNet-B0 embedders + a cross-attention ViT.

Authors' files read (MIT licence):
davide-coccomini/Combining-EfficientNet-and-Vision-Transformers-for-Video-Deepfake-Detection `cross-efficient-vit/cross_efficient_vit.py`,
and `configs/architecture.yaml`, `test.py`, the
vendored `efficient_net/efficientnet_pytorch/model.py` (`delete_blocks` is a no-op; `extract_features_at_block`),
`preprocessing/*` (faces: see `detectors/faces.py`). Semi-Truths ran the authors' face detection and test
scripts (`stress_testing/run_1.py` calls them), so the authors' pipeline is also the paper's.
 - Small branch: the whole EfficientNet-B0 (efficientnet_pytorch, 224 px static SAME padding) with its
   head conv (1280 x 7 x 7), patches of 7 -> Linear(1280*49, 192); large branch: the stem and blocks 0-2
   (the loop breaks after the block past `efficient_block=1`; 24 x 56 x 56), patches of 56 -> Linear(24*56*56,
   384). Each: a CLS token, the first n+1 positions of a (224 // patch)^2 + 1 position table. Then `depth`
   rounds of small / large pre-norm Transformers and cross-attention of the CLS tokens; logits = small
   head + large head (1 each). Keys are the authors' (`sm_image_embedder.efficient_net._blocks.0...`,
   `multi_scale_encoder.layers.0.2.layers.0.0.project_in.weight`, ...); the checkpoint
   `cross_efficient_vit.pth` is a plain state dict (test.py: `model.load_state_dict(torch.load(path))`).
 - Input: a face crop, IsotropicResize(224) + PadIfNeeded(224), read by cv2 (BGR), float 0..255, no
   normalisation; P(fake) = sigmoid; an image's score over its faces is `custom_video_round` (the first
   face above 0.55, else the mean); the authors call fake above 0.6 (`custom_round`): the threshold.
Faces: option `faces: mtcnn` (the authors' facenet-pytorch MTCNN) or `none` (the image is the face crop).
An image without a face: `no_face: quarantine` (default: the paper says CrossEfficientViT "pre-emptively
filters any images that do not contain a human face"), quarantined with the rule `no_face`; or
`full_image` (scored as one crop of the whole image). Random stand-in: a tiny config (depth 1, narrow
encoders) on the real EfficientNet-B0 and 224 px input, `faces: mtcnn`, `no_face: full_image` (so the
offline sample, mostly without faces, gets a row per image).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ...published_configs import published
from ..base import Detector
from ..faces import detect_boxes, isotropic_fit, mtcnn, square_crop, video_round
from ..preprocessing import CropBox, Preprocessing
from ..spec import DetectorSpec, SpecError

ARCHITECTURE: dict[str, Any] = published("coccomini/cross_efficient_vit")["architecture"]  # dropouts: inactive
TINY = {"depth": 1, "sm-dim": 32, "sm-enc-depth": 1, "sm-enc-dim-head": 16, "sm-enc-heads": 2, "sm-enc-mlp-dim": 64,
        "lg-dim": 48, "lg-enc-depth": 1, "lg-enc-dim-head": 16, "lg-enc-heads": 2, "lg-enc-mlp-dim": 64,
        "cross-attn-depth": 1, "cross-attn-dim-head": 16, "cross-attn-heads": 2}
FACES = ("mtcnn", "none")
NO_FACE = ("quarantine", "full_image")


class PreNorm(nn.Module):
    def __init__(self, dim: int, fn: nn.Module) -> None:
        super().__init__()
        self.norm, self.fn = nn.LayerNorm(dim), fn

    def forward(self, x: torch.Tensor, **kw: Any) -> torch.Tensor:
        return self.fn(self.norm(x), **kw)


class Attention(nn.Module):
    """Multi-head attention with bias-free to_q / to_kv; cross-attention keeps the query among the keys."""

    def __init__(self, dim: int, heads: int, dim_head: int) -> None:
        super().__init__()
        inner = heads * dim_head
        self.heads, self.scale = heads, dim_head ** -0.5
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_kv = nn.Linear(dim, inner * 2, bias=False)
        self.to_out = nn.Sequential(nn.Linear(inner, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None, kv_include_self: bool = False) -> torch.Tensor:
        context = x if context is None else context
        if kv_include_self:
            context = torch.cat((x, context), dim=1)
        q, k, v = (self.to_q(x), *self.to_kv(context).chunk(2, dim=-1))
        b, h = x.shape[0], self.heads
        q, k, v = (t.reshape(b, t.shape[1], h, -1).transpose(1, 2) for t in (q, k, v))
        attn = (q @ k.transpose(-1, -2) * self.scale).softmax(dim=-1)
        return self.to_out((attn @ v).transpose(1, 2).reshape(b, x.shape[1], -1))


class FeedForward(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(0.0), nn.Linear(hidden, dim),
                                 nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Transformer(nn.Module):
    def __init__(self, dim: int, depth: int, heads: int, dim_head: int, mlp_dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([PreNorm(dim, Attention(dim, heads, dim_head)),
                                                   PreNorm(dim, FeedForward(dim, mlp_dim))]) for _ in range(depth))
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for attn, ff in self.layers:
            x = attn(x) + x
            x = ff(x) + x
        return self.norm(x)


class ProjectInOut(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, fn: nn.Module) -> None:
        super().__init__()
        self.fn = fn
        self.project_in = nn.Linear(dim_in, dim_out) if dim_in != dim_out else nn.Identity()
        self.project_out = nn.Linear(dim_out, dim_in) if dim_in != dim_out else nn.Identity()

    def forward(self, x: torch.Tensor, **kw: Any) -> torch.Tensor:
        return self.project_out(self.fn(self.project_in(x), **kw))


class CrossTransformer(nn.Module):
    """Each CLS token attends to the other branch's patch tokens (and itself)."""

    def __init__(self, sm: int, lg: int, depth: int, heads: int, dim_head: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.ModuleList([
            ProjectInOut(sm, lg, PreNorm(lg, Attention(lg, heads, dim_head))),
            ProjectInOut(lg, sm, PreNorm(sm, Attention(sm, heads, dim_head)))]) for _ in range(depth))

    def forward(self, sm: torch.Tensor, lg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        (sm_cls, sm_patch), (lg_cls, lg_patch) = (sm[:, :1], sm[:, 1:]), (lg[:, :1], lg[:, 1:])
        for sm_attend_lg, lg_attend_sm in self.layers:
            sm_cls = sm_attend_lg(sm_cls, context=lg_patch, kv_include_self=True) + sm_cls
            lg_cls = lg_attend_sm(lg_cls, context=sm_patch, kv_include_self=True) + lg_cls
        return torch.cat((sm_cls, sm_patch), dim=1), torch.cat((lg_cls, lg_patch), dim=1)


class ImageEmbedder(nn.Module):
    """EfficientNet-B0 features up to `block`, cut into patches, projected, with a CLS token and positions."""

    def __init__(self, dim: int, image_size: int, patch: int, channels: int, block: int) -> None:
        super().__init__()
        from efficientnet_pytorch import EfficientNet

        self.efficient_net = EfficientNet.from_name("efficientnet-b0", image_size=image_size)
        self.block, self.patch = block, patch
        self.to_patch_embedding = nn.Sequential(nn.Identity(), nn.Linear(channels * patch ** 2, dim))
        self.pos_embedding = nn.Parameter(torch.randn(1, (image_size // patch) ** 2 + 1, dim))
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """`extract_features_at_block`: blocks until the one after `block` ran; the head only past the last."""
        net = self.efficient_net
        x = net._swish(net._bn0(net._conv_stem(x)))
        for idx, blk in enumerate(net._blocks):
            x = blk(x)
            if idx > self.block:
                break
        if self.block >= len(net._blocks):
            x = net._swish(net._bn1(net._conv_head(x)))
        return x

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = self.features(img)
        b, c, hh, ww = x.shape
        p = self.patch  # 'b c (h p1) (w p2) -> b (h w) (p1 p2 c)'
        x = x.reshape(b, c, hh // p, p, ww // p, p).permute(0, 2, 4, 3, 5, 1).reshape(b, -1, p * p * c)
        x = self.to_patch_embedding(x)
        x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        return x + self.pos_embedding[:, : x.shape[1]]


class CrossEfficientViTModel(nn.Module):
    def __init__(self, cfg: dict[str, Any]) -> None:
        super().__init__()
        size = cfg["image-size"]
        self.sm_image_embedder = ImageEmbedder(cfg["sm-dim"], size, cfg["sm-patch-size"], cfg["sm-channels"], 16)
        self.lg_image_embedder = ImageEmbedder(cfg["lg-dim"], size, cfg["lg-patch-size"], cfg["lg-channels"], 1)
        layers = []
        for _ in range(cfg["depth"]):
            layers.append(nn.ModuleList([
                Transformer(cfg["sm-dim"], cfg["sm-enc-depth"], cfg["sm-enc-heads"], cfg["sm-enc-dim-head"],
                            cfg["sm-enc-mlp-dim"]),
                Transformer(cfg["lg-dim"], cfg["lg-enc-depth"], cfg["lg-enc-heads"], cfg["lg-enc-dim-head"],
                            cfg["lg-enc-mlp-dim"]),
                CrossTransformer(cfg["sm-dim"], cfg["lg-dim"], cfg["cross-attn-depth"], cfg["cross-attn-heads"],
                                 cfg["cross-attn-dim-head"])]))
        self.multi_scale_encoder = nn.Module()
        self.multi_scale_encoder.layers = nn.ModuleList(layers)
        self.sm_mlp_head = nn.Sequential(nn.LayerNorm(cfg["sm-dim"]), nn.Linear(cfg["sm-dim"], cfg["num-classes"]))
        self.lg_mlp_head = nn.Sequential(nn.LayerNorm(cfg["lg-dim"]), nn.Linear(cfg["lg-dim"], cfg["num-classes"]))

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        img = rgb.flip(1)  # the authors read faces with cv2: BGR
        sm, lg = self.sm_image_embedder(img), self.lg_image_embedder(img)
        for sm_enc, lg_enc, cross in self.multi_scale_encoder.layers:
            sm, lg = cross(sm_enc(sm), lg_enc(lg))
        return self.sm_mlp_head(sm[:, 0]) + self.lg_mlp_head(lg[:, 0])


class CrossEfficientViT(Detector):
    PLUGIN = "cross_efficient_vit"
    # run_1.py handed CrossEfficientViT to its authors' face-crop scripts: `protocol: paper` keeps this pipeline.
    PAPER_OWN_PIPELINE = True
    WEIGHT_ROLES = ("model",)
    DEFAULT_THRESHOLD = 0.6  # test.py's custom_round
    QUARANTINE_RULES = ("no_face",)
    OPTIONS = {
        "faces": ((str,), "mtcnn", f"face step: one of {list(FACES)} (none: the image is the face crop)"),
        "no_face": ((str,), "quarantine", f"an image without a face: one of {list(NO_FACE)}"),
        "architecture": ((dict,), {}, "architecture.yaml `model:` values replacing the published ones (tiny)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        for key, allowed in (("faces", FACES), ("no_face", NO_FACE)):
            value = spec.options.get(key)
            if value is not None and value not in allowed:
                raise SpecError(spec.source, f"options.{key}", f"{value!r} is not one of {list(allowed)}")
        unknown = set(spec.options.get("architecture") or {}) - set(ARCHITECTURE)
        if unknown:
            raise SpecError(spec.source, "options.architecture", f"unknown keys {sorted(unknown)}")

    @property
    def image_size(self) -> int:
        return int((ARCHITECTURE | self.options["architecture"])["image-size"])

    def build_preprocessing(self) -> Preprocessing:
        # Applied to the face crop after IsotropicResize + PadIfNeeded: ToTensor * 255 (cv2's 0..255 floats).
        return Preprocessing(resize=None, crop=None, mean=(0.0, 0.0, 0.0), std=(1 / 255, 1 / 255, 1 / 255))

    def load_model(self) -> nn.Module:
        model = CrossEfficientViTModel(ARCHITECTURE | self.options["architecture"])
        self.load_state(model, "model", prefix="module.")
        self.face_detector = mtcnn(self.device) if self.options["faces"] == "mtcnn" else None
        return model

    def preprocessing_signature(self, box: CropBox | None = None) -> str:
        faces = f"|faces={self.options['faces']},no_face={self.options['no_face']},size={self.image_size}"
        return super().preprocessing_signature(None) + faces

    def face_crops(self, image: Image.Image) -> list[Image.Image]:
        """The model inputs of an image's faces (empty: no face), or of the image itself (`faces: none`)."""
        if self.face_detector is None:
            crops = [image.convert("RGB")]
        else:
            crops = [square_crop(image, box) for box in detect_boxes(self.face_detector, image)]
            crops = [c for c in crops if c.size[0] > 0 and c.size[1] > 0]
        return [isotropic_fit(c, self.image_size) for c in crops]

    def score_each(
        self, images: Sequence[Image.Image], boxes: Sequence[CropBox | None] | None = None, batch_size: int = 16
    ) -> tuple[np.ndarray, dict[int, str]]:
        crops, owner, failed = [], [], {}
        for i, image in enumerate(images):
            faces = self.face_crops(image)
            if not faces and self.options["no_face"] == "quarantine":
                failed[i] = f"no_face: detector '{self.name}' found no face (MTCNN) in this image; the authors " \
                            "score face crops only (spec option no_face: full_image scores the whole image)"
                continue
            for face in faces or [isotropic_fit(image.convert("RGB"), self.image_size)]:
                crops.append(face)
                owner.append(i)
        per_face = super().score(crops, batch_size=batch_size) if crops else np.empty(0)
        out = np.full(len(images), np.nan)
        for i in dict.fromkeys(owner):
            out[i] = video_round([s for s, o in zip(per_face, owner, strict=True) if o == i])
        return out, failed

    def score(self, images: Sequence[Image.Image], boxes: Sequence[CropBox | None] | None = None,
              texts: Sequence[str] | None = None, batch_size: int = 16) -> np.ndarray:
        """P(fake) per image; NaN for an image without a face under `no_face: quarantine`."""
        return self.score_each(images, boxes, batch_size)[0]

    @classmethod
    def random_model(cls, tiny: bool) -> nn.Module:
        return CrossEfficientViTModel(ARCHITECTURE | (TINY if tiny else {}))

    RANDOM_CHECKPOINT = "cross_efficient_vit.pth"

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        # The offline sample has few faces: the stand-in scores faceless images whole, so every image gets a row.
        return {"architecture": dict(TINY) if tiny else {}, "no_face": "full_image"}
