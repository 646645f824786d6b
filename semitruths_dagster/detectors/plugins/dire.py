"""DIRE (Wang et al., ICCV 2023): |x - DDIM-reconstruction(x)| under an ADM, then a ResNet-50 with one logit.

Authors' files read: ZhendongWang6/DIRE `guided-diffusion/compute_dire.py` + `compute_dire.sh` (the DIRE
image), `guided_diffusion/image_datasets.py` (`center_crop_arr`), `utils/utils.py` (`get_network`),
`utils/datasets.py` + `utils/config.py` (the classifier's test transform), `utils/trainer.py` (checkpoint
format), `test.py`, `demo.py`.
 - DIRE image: the image is brought to 256 px as `center_crop_arr` does (BOX halvings while the shorter
   side is >= 512, then bicubic, the longer side rounded), centre-cropped (offset floored), to [-1, 1]; DDIM-inverted then DDIM-reconstructed (`ddim20` of the 1000-step linear schedule, eta 0,
   clip_denoised) with the unconditional ADM `256x256_diffusion_uncond.pt` (published flags: see
   published_configs.py `openai/256x256_diffusion_uncond`); DIRE = |x - recon| saved as
   uint8(clamp(DIRE * 255 / 2)) in a lossless PNG.
 - Classifier (test transform): CenterCrop(224), ToTensor, ImageNet mean/std; `resnet50(num_classes=1)`
   (torchvision's layout, `fc = Linear(2048, 1)`), `model(x).sigmoid()`. Checkpoints (`lsun_adm.pth`,
   `imagenet_adm.pth`, ...) are dicts {'model': state dict, 'optimizer', 'total_steps'}; the ADM file is a
   plain state dict. Both are read with torch.load(weights_only=True).
Option `dire_image: false` feeds the image itself to the classifier (Resize(256), CenterCrop(224), ImageNet
mean/std: demo.py's transform): what the Semi-Truths evaluation code (`stress_testing/run_1.py`) ran, which
loads only the classifier. DDIM with eta 0 draws no random numbers: the reconstruction is deterministic.
Licences: DIRE code (no licence file in the repository), guided-diffusion and its checkpoints MIT.
Random stand-in: a tiny ADM (32 px, 32 channels, 2 levels) and a ResNet with one bottleneck per stage,
2 DDIM steps, a 28-px classifier crop (224/256 of the frame), given as options.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torch import nn
from torchvision.transforms import InterpolationMode

from ...published_configs import published
from ..adm import DDIM, ADMUNet, ddim_timesteps
from ..base import Detector
from ..preprocessing import IMAGENET_MEAN, IMAGENET_STD, Preprocessing
from ..spec import DetectorSpec, SpecError
from .cnnspot import RESNET50_LAYERS, TINY_LAYERS, build_resnet

ADM_ID = "openai/256x256_diffusion_uncond"
TINY_ADM = {"image_size": 32, "num_channels": 32, "num_res_blocks": 1, "channel_mult": [1, 2],
            "attention_resolutions": [16], "num_head_channels": 32}
TINY_OPTIONS = {"adm": TINY_ADM, "layers": TINY_LAYERS, "ddim_steps": 2, "crop": 28}


@dataclass(frozen=True)
class CenterCropArr(Preprocessing):
    """guided-diffusion's `center_crop_arr` resize: halve with a BOX filter while the shorter side is at
    least twice `resize`, then bicubic to it (the longer side rounded); the crop is the parent's (floored)."""

    def _resize(self, image: Image.Image, interpolation: InterpolationMode) -> Image.Image:
        side = int(self.resize)  # type: ignore[arg-type]
        nearest = interpolation == InterpolationMode.NEAREST  # masks brought into the frame
        while min(image.size) >= 2 * side:
            image = image.resize(tuple(x // 2 for x in image.size), resample=Image.NEAREST if nearest else Image.BOX)
        scale = side / min(image.size)
        return image.resize(tuple(round(x * scale) for x in image.size),
                            resample=Image.NEAREST if nearest else Image.BICUBIC)

    def signature(self, box: Any = None) -> str:
        return super().signature(box)[:-1] + ',"resize_rule":"center_crop_arr"}'


def adm_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The UNet flags DIRE's compute_dire.sh passes (published_configs.py), with `overrides` (tiny builds)."""
    return dict(published(ADM_ID)["guided_diffusion"]) | dict(overrides or {})


class DIREModel(nn.Module):
    """`unet` (ADM) reconstructs; `classifier` (ResNet-50, 1 logit) scores the quantised DIRE image."""

    def __init__(self, unet: ADMUNet | None, classifier: nn.Module, ddim_steps: int, crop: int, dire_image: bool) -> None:
        super().__init__()
        self.unet, self.classifier = unet, classifier
        self.ddim = DDIM(ddim_steps, published(ADM_ID)["diffusion"]["steps"])
        self.crop, self.dire_image = crop, dire_image

    def dire(self, x: torch.Tensor) -> torch.Tensor:
        """The DIRE image in [0, 1] as the classifier reads it back from the authors' uint8 PNG."""
        recon = self.ddim.sample(self.unet, self.ddim.invert(self.unet, x))
        return torch.floor((recon - x).abs().float() * 255.0 / 2.0).clamp(0, 255) / 255.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.dire_image:
            return self.classifier(x)
        img = TF.center_crop(self.dire(x), [self.crop, self.crop])
        return self.classifier(TF.normalize(img, list(IMAGENET_MEAN), list(IMAGENET_STD)).to(x.dtype))


class DIRE(Detector):
    PLUGIN = "dire"
    # run_1.py fed the image itself (no DIRE image) to DIRE's ResNet-50 through the shared transform.
    PAPER_OPTIONS = {"dire_image": False}
    WEIGHT_ROLES = ("model",)
    OPTIONAL_WEIGHT_ROLES = ("diffusion",)  # needed unless dire_image is false
    OPTIONS = {
        "dire_image": ((bool,), True, "true: the authors' DIRE image; false: the image itself (Semi-Truths' run)"),
        "ddim_steps": ((int,), 20, "DDIM steps of inversion and of reconstruction each (authors: ddim20)"),
        "adm": ((dict,), {}, "ADM flags replacing the published 256x256 uncond ones (tiny stand-ins)"),
        "crop": ((int,), 224, "the classifier's centre crop of the DIRE image"),
        "layers": ((list,), RESNET50_LAYERS, "bottlenecks per stage, 4 integers (ResNet-50: [3, 4, 6, 3])"),
        "state_key": ((str,), "model", "the classifier checkpoint entry holding the state dict"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        steps = spec.options.get("ddim_steps")
        if steps is not None:
            try:
                ddim_timesteps(published(ADM_ID)["diffusion"]["steps"], int(steps))
            except ValueError as exc:
                raise SpecError(spec.source, "options.ddim_steps", f"{steps!r}: {exc}") from None
        if spec.options.get("dire_image", True) and "diffusion" not in spec.weights:
            raise SpecError(spec.source, "weights.diffusion", "missing: the ADM that reconstructs the image "
                            "(256x256_diffusion_uncond.pt); only `dire_image: false` runs without it")
        unknown = set(spec.options.get("adm") or {}) - set(published(ADM_ID)["guided_diffusion"])
        if unknown:
            raise SpecError(spec.source, "options.adm", f"unknown ADM flags {sorted(unknown)}")

    def build_preprocessing(self) -> Preprocessing:
        if not self.options["dire_image"]:
            return Preprocessing(resize=256, crop=self.options["crop"], mean=IMAGENET_MEAN, std=IMAGENET_STD)
        size = adm_config(self.options["adm"])["image_size"]
        # center_crop_arr: BOX halvings, bicubic to the side, centre crop (floored offset); x / 127.5 - 1.
        return CenterCropArr(resize=size, crop=size, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                             interpolation="bicubic", offset="floor")

    def load_model(self) -> nn.Module:
        unet = None
        if self.options["dire_image"]:
            unet = ADMUNet(**adm_config(self.options["adm"]))
            self.load_state(unet, "diffusion")
        classifier = build_resnet(self.options["layers"])
        self.load_state(classifier, "model", key=self.options["state_key"], prefix="module.")
        return DIREModel(unet, classifier, self.options["ddim_steps"], self.options["crop"], self.options["dire_image"])

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[nn.Module, nn.Module]:
        unet = ADMUNet(**adm_config(TINY_ADM if tiny else None))
        return unet, build_resnet(TINY_LAYERS if tiny else RESNET50_LAYERS)

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        unet, classifier = model
        torch.save(unet.state_dict(), out_dir / "256x256_diffusion_uncond.pt")
        torch.save({"model": classifier.state_dict(), "total_steps": 0}, out_dir / "lsun_adm.pth")
        return {"diffusion": str(out_dir / "256x256_diffusion_uncond.pt"), "model": str(out_dir / "lsun_adm.pth")}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return dict(TINY_OPTIONS) if tiny else {}
