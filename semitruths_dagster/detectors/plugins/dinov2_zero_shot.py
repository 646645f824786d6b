"""The Semi-Truths paper's "DINOv2 zero-shot" detector, computed as its evaluation code computed it.

Authors' files read (J-Kruk/SemiTruths `stress_testing/run_1.py`: `load_model`, `load_fake_image_detector`,
`predict_image_dino`; Table 3 row 1: "ViT + ResNet-50", trained on nothing). For each image:
 1. the paper's transform: Resize(256), CenterCrop(224), ImageNet mean/std, then clamp(0, 1);
 2. that tensor goes through `facebook/dinov2-base`'s own image processor (transformers' BitImageProcessor,
    the slow one that AutoImageProcessor gave): quantised to uint8 for PIL, bicubic to 256, back to [0, 1],
    centre crop 224, rescaled by 1/255 AGAIN (the tensor was already in [0, 1]), ImageNet mean/std. So
    DINOv2 sees an almost constant image (values within about [-2.12, -1.79]); this is what ran;
 3. `Dinov2Model(...).last_hidden_state[:, 0]` (the final-LayerNorm CLS token, 768-d), viewed as a 1 x 768
    image, bilinearly resized to 224 x 224 (align_corners False), repeated on 3 channels;
 4. torchvision's ImageNet ResNet-50 (`resnet50(pretrained=True)` = IMAGENET1K_V1, resnet50-0676ba61.pth,
    in eval mode, no input normalisation) whose `fc` is replaced by a fresh `Linear(2048, 1)`, never
    trained: its default (Kaiming-uniform) initialisation, unseeded in the paper; P(fake) = sigmoid.
Weights: `backbone` = transformers folder / hub id of DINOv2 (with its preprocessor_config.json);
`resnet` = torchvision's ResNet-50 state dict (its 1000-class fc is dropped, as the paper's code replaced
it); `head` = the Linear(2048, 1) {weight, bias} drawn by `write_head(path, seed)` (PyTorch's default init
under a seed: the paper's draw cannot be recovered, so its scores are reproducible in distribution only).
Licences: DINOv2 weights Apache-2.0; torchvision's ResNet-50 weights BSD-3-Clause (ImageNet terms apply).
Random stand-in: a tiny DINOv2 (2 layers of width 32, patch 14) with dinov2-base's processor config, a
ResNet with one bottleneck per stage, and a head drawn the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...load_checks import strict_loading
from ...published_configs import published
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, read_tensors, select_state_dict
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from .cnnspot import RESNET50_LAYERS, TINY_LAYERS, build_resnet

DINOV2_BASE = "facebook/dinov2-base"
DINOV2_TIMM = "vit_base_patch14_dinov2.lvd142m"  # its key in published_configs.py
# facebook/dinov2-base preprocessor_config.json (BitImageProcessor).
PROCESSOR_CONFIG = {"do_resize": True, "size": {"shortest_edge": 256}, "resample": 3, "do_center_crop": True,
                    "crop_size": {"height": 224, "width": 224}, "do_rescale": True, "rescale_factor": 1 / 255,
                    "do_normalize": True, "image_mean": list(IMAGENET_MEAN), "image_std": list(IMAGENET_STD),
                    "do_convert_rgb": True}
TINY_DINOV2 = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2, "mlp_ratio": 4,
               "patch_size": 14, "image_size": 518}
FEATURES = 2048  # ResNet-50's pooled width


def dinov2_base_config() -> dict[str, Any]:
    """transformers Dinov2Config fields of facebook/dinov2-base (published_configs.py)."""
    v = published(f"timm/{DINOV2_TIMM}")["vision"]
    return {"hidden_size": v["width"], "num_hidden_layers": v["layers"], "num_attention_heads": v["heads"],
            "mlp_ratio": v["mlp"] // v["width"], "patch_size": v["patch_size"], "image_size": v["image_size"],
            "layer_norm_eps": v["layer_norm_eps"], "layerscale_value": 1.0}


def write_head(path: Path, seed: int) -> Path:
    """A `Linear(2048, 1)` as the paper's code made it (PyTorch's default init), drawn under `seed`."""
    from ...hub import seeded

    with seeded(seed):
        head = nn.Linear(FEATURES, 1)
    torch.save(head.state_dict(), path)
    return path


class ZeroShotModel(nn.Module):
    """DINOv2 CLS token -> a 224 x 224 'image' -> ImageNet ResNet-50 with the untrained 1-logit fc."""

    def __init__(self, dinov2: nn.Module, processor: Any, resnet: nn.Module, size: int = 224) -> None:
        super().__init__()
        self.dinov2, self.resnet, self.processor, self.size = dinov2, resnet, processor, size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # run_1.py clamps the normalised tensor to [0, 1] (the processor refuses floats outside it).
        inputs = self.processor(images=x.float().clamp(0, 1).cpu(), return_tensors="pt")["pixel_values"]
        cls = self.dinov2(pixel_values=inputs.to(x.device, x.dtype)).last_hidden_state[:, 0]
        feats = F.interpolate(cls.reshape(cls.shape[0], 1, 1, -1), size=(self.size, self.size), mode="bilinear",
                              align_corners=False)
        return self.resnet(feats.expand(-1, 3, -1, -1))


class DINOv2ZeroShot(Detector):
    PLUGIN = "dinov2_zero_shot"
    WEIGHT_ROLES = ("backbone", "resnet", "head")
    OPTIONS = {
        "layers": ((list,), RESNET50_LAYERS, "ResNet bottlenecks per stage (ResNet-50: [3, 4, 6, 3])"),
    }

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=256, crop=224, mean=IMAGENET_MEAN, std=IMAGENET_STD)

    def load_model(self) -> nn.Module:
        from transformers import BitImageProcessor, Dinov2Model

        kind, ref = self.weight_ref("backbone")
        what = self.what("backbone")
        try:
            with strict_loading(what, f"point weights.backbone at {DINOV2_BASE} or a folder saved from it"):
                dinov2 = Dinov2Model.from_pretrained(ref, use_safetensors=True)
            processor = BitImageProcessor.from_pretrained(ref)  # the slow processor, as the paper ran it
        except OSError as exc:
            raise CheckpointError(f"{what}: cannot load DINOv2 {ref!r} ({kind}): {str(exc).splitlines()[0]}") from exc
        resnet = build_resnet(self.options["layers"])
        resnet.fc = nn.Linear(FEATURES, 1)
        _, path = self.weight_ref("resnet")
        state = select_state_dict(read_tensors(path, self.what("resnet")), None, path, self.what("resnet"))
        trunk = {k: v for k, v in state.items() if not k.startswith("fc.")}  # the paper replaced the fc
        load_into(resnet, trunk | {f"fc.{k}": v for k, v in resnet.fc.state_dict().items()}, path, self.what("resnet"))
        self.load_state(resnet.fc, "head")
        return ZeroShotModel(dinov2, processor, resnet)

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[nn.Module, nn.Module, nn.Module]:
        from transformers import Dinov2Config, Dinov2Model

        config = Dinov2Config(**(TINY_DINOV2 if tiny else dinov2_base_config()))
        resnet = build_resnet(TINY_LAYERS if tiny else RESNET50_LAYERS)
        resnet.fc = nn.Linear(FEATURES, 1000)  # torchvision's ImageNet classifier, as the released file has it
        return Dinov2Model(config), resnet, nn.Linear(FEATURES, 1)

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        from transformers import BitImageProcessor

        dinov2, resnet, head = model
        dinov2.save_pretrained(out_dir / "dinov2-base")
        BitImageProcessor(**PROCESSOR_CONFIG).save_pretrained(out_dir / "dinov2-base")
        torch.save(resnet.state_dict(), out_dir / "resnet50-0676ba61.pth")
        torch.save(head.state_dict(), out_dir / "head.pth")
        return {"backbone": str(out_dir / "dinov2-base"), "resnet": str(out_dir / "resnet50-0676ba61.pth"),
                "head": str(out_dir / "head.pth")}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"layers": TINY_LAYERS} if tiny else {}
