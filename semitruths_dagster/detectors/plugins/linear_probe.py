"""A linear probe: frozen DINOv2 or CLIP image features + a logistic-regression head this project fits.

Authors' files read: none (AI-GenBench's code was not read: not confirmed; the head is this project's).
AI-GenBench found such probes the strongest baselines; nobody publishes their heads, so the project fits
one (`semitruths detector fit-probe`, `probe_fit.py`) on a named split and records that split inside the
head file and the spec. Features: `clip` = open_clip `encode_image` (backbone ref `open_clip:ViT-L-14/openai`
or a local open_clip folder; preprocessing Resize(224, bicubic), CenterCrop(224), CLIP mean/std, as
open_clip's own transform); `dinov2` = timm `vit_base_patch14_dinov2.lvd142m` pooled CLS features (backbone
`hf-hub:timm/vit_base_patch14_dinov2.lvd142m` or a local `model.safetensors` of that timm model;
preprocessing Resize(256, bicubic), CenterCrop(224), ImageNet mean/std: DINOv2's linear-probe protocol).
Features are L2-normalised before the head (as in the fit). Head: safetensors `{weight [1, D], bias [1]}`
with metadata `split` (JSON: where the training images came from), `features`, `backbone`, `fit`.
Random stand-in: a tiny backbone and a random head whose metadata says it was not fitted.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ...common import derive_seed
from ..backbones import (
    CLIP_MEAN,
    CLIP_STD,
    build_open_clip,
    load_open_clip,
    save_open_clip_folder,
    vit_l14_clip_config,
)
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, require_file
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError

DINOV2 = "vit_base_patch14_dinov2.lvd142m"
HEAD_FILE = "probe_head.safetensors"
# features -> (resize, crop, mean, std) of its preprocessing
TRANSFORMS = {
    "clip": (224, 224, CLIP_MEAN, CLIP_STD),
    "dinov2": (256, 224, IMAGENET_MEAN, IMAGENET_STD),
}


def build_dinov2(timm_model: str, timm_kwargs: dict[str, Any]) -> nn.Module:
    """timm's DINOv2 ViT as a feature extractor (no head; any input size)."""
    import timm

    return timm.create_model(timm_model, pretrained=False, num_classes=0, dynamic_img_size=True, **timm_kwargs)



def in_split(split: dict[str, Any], dataset: str, image_id: str) -> bool:
    """Whether `image_id` of `dataset` belongs to a recorded training split."""
    if split.get("kind") != "image_id_fraction" or dataset != split.get("dataset"):
        return False
    return derive_seed(int(split["seed"]), "probe-split", image_id) / 2**31 < float(split["fraction"])

class FeatureExtractor(nn.Module):
    """Frozen image features, L2-normalised: what the probe's head was fitted on."""

    def __init__(self, backbone: nn.Module, features: str) -> None:
        super().__init__()
        self.backbone = backbone
        self.features = features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.backbone.encode_image(x) if self.features == "clip" else self.backbone(x)
        return f / f.norm(p=2, dim=-1, keepdim=True)


class ProbeModel(nn.Module):
    def __init__(self, extractor: FeatureExtractor, head: nn.Linear) -> None:
        super().__init__()
        self.extractor = extractor
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.extractor(x).to(self.head.weight.dtype))


def load_backbone(features: str, kind: str, ref: str, options: dict[str, Any], what: str) -> nn.Module:
    """The frozen backbone of a probe, from a hub ref or a local file / folder."""
    if features == "clip":
        return load_open_clip(kind, ref, what)
    from safetensors.torch import load_file

    model = build_dinov2(options["timm_model"], dict(options["timm_kwargs"]))
    if kind == "hub":
        import timm

        try:
            model = timm.create_model(ref.removeprefix("timm:"), pretrained=True, num_classes=0,
                                      dynamic_img_size=True, **dict(options["timm_kwargs"]))
        except Exception as exc:  # offline, not cached: "not available"
            raise CheckpointError(f"{what}: cannot load timm model {ref!r} ({type(exc).__name__})") from exc
        return model.eval()
    path = Path(ref) / "model.safetensors" if Path(ref).is_dir() else Path(ref)
    state = load_file(str(require_file(path, what)), device="cpu")
    load_into(model, {k: v for k, v in state.items() if not k.startswith("head.")}, path, what)
    return model.eval()


def read_head(path: Path, what: str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """A probe head's tensors and metadata (safetensors only: the project writes it, never a pickle)."""
    from safetensors import safe_open

    p = require_file(path, what)
    if p.suffix != ".safetensors":
        raise CheckpointError(f"{what}: {p} must be a .safetensors head written by `semitruths detector fit-probe`")
    try:
        with safe_open(str(p), framework="pt", device="cpu") as f:
            return {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata() or {})  # noqa: SIM118
    except Exception as exc:  # truncated or not safetensors
        raise CheckpointError(f"{what}: {p} is not a readable safetensors file ({str(exc)[:120]})") from exc


def write_head(path: Path, weight: torch.Tensor, bias: torch.Tensor, metadata: dict[str, Any]) -> Path:
    """Save a fitted (or random) head with its split and provenance as safetensors metadata (strings)."""
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    meta = {k: v if isinstance(v, str) else json.dumps(v, sort_keys=True) for k, v in metadata.items()}
    save_file({"weight": weight.float().contiguous(), "bias": bias.float().contiguous()}, str(path), metadata=meta)
    return path


class LinearProbe(Detector):
    PLUGIN = "linear_probe"
    WEIGHT_ROLES = ("backbone", "head")
    OPTIONS = {
        "features": ((str,), "clip", "clip (open_clip encode_image) or dinov2 (timm DINOv2 ViT-B/14)"),
        "timm_model": ((str,), DINOV2, "dinov2: the timm architecture"),
        "timm_kwargs": ((dict,), {}, "dinov2: extra timm.create_model arguments (tiny stand-ins: depth)"),
        "resize": ((int,), None, "shorter side after resizing (default: the backbone's protocol)"),
        "crop": ((int,), None, "centre crop side (default 224)"),
        "split": ((dict,), None, "the training split the head was fitted on (written by fit-probe)"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        features = spec.options.get("features", "clip")
        if features not in TRANSFORMS:
            raise SpecError(spec.source, "options.features", f"{features!r} is not one of {sorted(TRANSFORMS)}")

    def build_preprocessing(self) -> Preprocessing:
        resize, crop, mean, std = TRANSFORMS[self.options["features"]]
        return Preprocessing(resize=self.options["resize"] or resize, crop=self.options["crop"] or crop,
                             mean=mean, std=std, interpolation="bicubic")

    def extractor(self) -> FeatureExtractor:
        kind, ref = self.weight_ref("backbone")
        features = self.options["features"]
        return FeatureExtractor(load_backbone(features, kind, ref, self.options, self.what("backbone")), features)

    def load_model(self) -> nn.Module:
        extractor = self.extractor()
        _, path = self.weight_ref("head")
        state, meta = read_head(Path(path), self.what("head"))
        if meta.get("features", self.options["features"]) != self.options["features"]:
            raise CheckpointError(f"{self.what('head')}: {path} was fitted on {meta['features']} features, "
                                  f"the spec asks for {self.options['features']}")
        width = state["weight"].shape[-1] if "weight" in state else 0
        head = nn.Linear(width, 1)
        load_into(head, state, path, self.what("head"))
        self.head_metadata = meta
        return ProbeModel(extractor, head)

    def trained_on(self, dataset: str, image_id: str) -> bool:
        """Whether an image was in the head's training split (its predictions would not be a test)."""
        split = self.options.get("split") or {}
        return bool(split) and in_split(split, dataset, image_id)

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[Any, nn.Module]:
        return build_open_clip(vit_l14_clip_config(768, tiny)), nn.Linear(768, 1)

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        clip, head = model
        save_open_clip_folder(clip, vit_l14_clip_config(768, tiny), out_dir / "backbone")
        write_head(out_dir / HEAD_FILE, head.weight.detach(), head.bias.detach(),
                   {"features": "clip", "split": {"kind": "none"}, "fit": "random head, not fitted"})
        return {"backbone": str(out_dir / "backbone"), "head": str(out_dir / HEAD_FILE)}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"features": "clip"}
