"""CO-SPY (Cheng et al., CVPR 2025): a SigLIP semantic branch and a VAE-reconstruction artefact branch, fused.

Paper code (Megum1/CO-SPY `detectors/sd-v1_4/{semantic,artifact,fusion}.py`, `evaluate.py`), the released
`fusion` mode (`pretrained/<train set>/{semantic,artifact,fusion}_weights.pth`):
 - test transform: Resize(384) (bilinear), CenterCrop(384), ToTensor; no normalisation (done per branch);
 - semantic: Normalize(0.5, 0.5) -> frozen open_clip `ViT-SO400M-14-SigLIP-384` (`webli`) `encode_image`
   (1152-d) -> `fc = Linear(1152, 1)`; `semantic_weights.pth` = {fc.weight, fc.bias} only;
 - artefact: tensor Resize(224, antialias=False), Normalize(0, 1) -> x - VAE(x) (the frozen SD-1.4 VAE's
   `decode(encode(x).latent_dist.mean)`), scaled by 100/7 -> a 3x3/2 stem, bn, maxpool, ResNet-50 layer1
   and layer2 (Bottlenecks) -> average pool (512-d) -> `fc = Linear(512, 1)`; `artifact_weights.pth` is
   the branch's state dict (`artifact_encoder.*`, `fc.*`), which also holds the frozen VAE as
   `artifact_encoder.vae.*` when saved with the default `save_weights`: such keys are loaded into the VAE
   (strictly), otherwise the VAE comes from `weights.vae` alone;
 - fusion: `fc = Linear(2, 1)` on [semantic logit, artefact logit]; `fusion_weights.pth` = {fc.weight,
   fc.bias}; P(fake) = sigmoid.
Weights: `backbone` (open_clip ref, default `open_clip:ViT-SO400M-14-SigLIP-384/webli`, or an open_clip
folder), `vae` (diffusers AutoencoderKL: hub id of an SD pipeline such as `CompVis/stable-diffusion-v1-4`,
or a folder with the VAE's config.json or a `vae/` subfolder), and the three .pth files.
Random stand-in: a tiny open_clip CLIP with the real 384 px input and 1152-d output (a plain ViT, not
SigLIP's), the project's tiny SD VAE, and the artefact ResNet with one Bottleneck per layer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torchvision.transforms.functional as TF
from torch import nn

from ...load_checks import HF_FIX, WeightMismatchError, strict_loading
from ..backbones import build_open_clip, load_open_clip, save_open_clip_folder, tiny_clip_config
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, read_tensors, select_state_dict
from ..preprocessing import Preprocessing
from .npr import NPR_LAYERS, TINY_LAYERS, NPRNet

SIGLIP_FEATURES = 1152
ARTIFACT_FEATURES = 512
SEM_MEAN, SEM_STD = (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)
ARTIFACT_SIZE = 224
ARTIFACT_SCALE = 100.0 / 7.0
VAE_PREFIX = "artifact_encoder.vae."


class ArtifactEncoder(NPRNet):
    """VAEReconEncoder: NPR's trunk (3x3/2 stem, layer1, layer2) on the VAE reconstruction residual."""

    def __init__(self, vae: nn.Module, layers: tuple[int, int]) -> None:
        super().__init__(layers)
        del self.fc1  # the branch's head is the detector's `fc`
        self.vae = vae

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            recon = self.vae.decode(self.vae.encode(x).latent_dist.mean).sample
        x = self.conv1((x - recon) * ARTIFACT_SCALE)
        x = self.maxpool(self.relu(self.bn1(x)))
        x = self.layer2(self.layer1(x))
        return torch.flatten(self.avgpool(x), 1)


class ArtifactBranch(nn.Module):
    def __init__(self, vae: nn.Module, layers: tuple[int, int]) -> None:
        super().__init__()
        self.artifact_encoder = ArtifactEncoder(vae, layers)
        self.fc = nn.Linear(ARTIFACT_FEATURES, 1)


class CoSpyModel(nn.Module):
    """The fusion detector: semantic logit and artefact logit -> `fc` (2 -> 1)."""

    def __init__(self, clip: nn.Module, vae: nn.Module, layers: tuple[int, int]) -> None:
        super().__init__()
        self.clip = clip
        self.sem_fc = nn.Linear(SIGLIP_FEATURES, 1)
        self.art = ArtifactBranch(vae, layers)
        self.fc = nn.Linear(2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sem = self.sem_fc(self.clip.encode_image(TF.normalize(x, list(SEM_MEAN), list(SEM_STD))))
        x_art = TF.resize(x, [ARTIFACT_SIZE], antialias=False)  # Normalize(0, 1) is the identity
        art = self.art.fc(self.art.artifact_encoder(x_art))
        return self.fc(torch.cat([sem, art], dim=1))


def load_vae(kind: str, ref: str, what: str) -> nn.Module:
    """A diffusers AutoencoderKL from an SD pipeline hub id (its `vae/`) or a local VAE / pipeline folder."""
    from diffusers import AutoencoderKL

    if kind == "hub":
        where, sub = ref.removeprefix("hf-hub:"), "vae"
    else:
        path = Path(ref)
        if not path.is_dir():
            raise CheckpointError(f"{what}: {ref} is not a diffusers VAE folder")
        where, sub = str(path), ("vae" if (path / "vae" / "config.json").is_file() else None)
    try:
        with strict_loading(what, HF_FIX):  # missing / unused VAE weights are an error, not a log line
            return AutoencoderKL.from_pretrained(where, subfolder=sub, use_safetensors=None).eval()
    except WeightMismatchError:
        raise
    except Exception as exc:  # offline and not cached, no such repo, not a VAE: all mean "cannot load"
        raise CheckpointError(
            f"{what}: cannot load an AutoencoderKL from {ref!r}: {str(exc).splitlines()[0]}"
        ) from exc


class CoSpy(Detector):
    PLUGIN = "cospy"
    WEIGHT_ROLES = ("backbone", "vae", "semantic", "artifact", "fusion")
    OPTIONS = {
        "size": ((int,), 384, "the resize (shorter side) and centre crop side"),
        "artifact_layers": ((list,), NPR_LAYERS, "Bottlenecks in the artefact encoder's layer1 and layer2"),
    }

    def build_preprocessing(self) -> Preprocessing:
        size = self.options["size"]
        return Preprocessing(resize=size, crop=size, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def _state(self, role: str) -> tuple[dict[str, torch.Tensor], str]:
        _, path = self.weight_ref(role)
        return select_state_dict(read_tensors(path, self.what(role)), None, path, self.what(role)), path

    def load_model(self) -> nn.Module:
        clip = load_open_clip(*self.weight_ref("backbone"), self.what("backbone"))
        vae = load_vae(*self.weight_ref("vae"), self.what("vae"))
        model = CoSpyModel(clip, vae, tuple(self.options["artifact_layers"]))
        sem, path = self._state("semantic")
        load_into(
            model.sem_fc, {k.removeprefix("fc."): v for k, v in sem.items()}, path, self.what("semantic")
        )
        art, path = self._state("artifact")
        vae_keys = {k.removeprefix(VAE_PREFIX): v for k, v in art.items() if k.startswith(VAE_PREFIX)}
        rest = {k: v for k, v in art.items() if not k.startswith(VAE_PREFIX)}
        trainable = ArtifactBranch(nn.Identity(), tuple(self.options["artifact_layers"]))
        load_into(trainable, rest, path, self.what("artifact"))
        if vae_keys:  # the default save_weights also wrote the frozen VAE
            load_into(vae, vae_keys, path, self.what("artifact") + " (its artifact_encoder.vae.* keys)")
        trainable.artifact_encoder.vae = vae
        model.art = trainable
        fusion, path = self._state("fusion")
        load_into(model.fc, {k.removeprefix("fc."): v for k, v in fusion.items()}, path, self.what("fusion"))
        return model

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[Any, Any, CoSpyModel]:
        from ...random_weights.sd import tiny_vae

        clip = build_open_clip(_random_clip_config())
        vae = tiny_vae()
        return clip, vae, CoSpyModel(clip, vae, tuple(TINY_LAYERS if tiny else NPR_LAYERS))

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        clip, vae, cospy = model
        save_open_clip_folder(clip, _random_clip_config(), out_dir / "backbone")
        vae.save_pretrained(str(out_dir / "vae"))
        # The release's three files: heads only, the whole artefact branch (VAE included), the fusion head.
        torch.save({f"fc.{k}": v for k, v in cospy.sem_fc.state_dict().items()}, out_dir / "semantic_weights.pth")
        torch.save(cospy.art.state_dict(), out_dir / "artifact_weights.pth")
        torch.save({f"fc.{k}": v for k, v in cospy.fc.state_dict().items()}, out_dir / "fusion_weights.pth")
        heads = {role: str(out_dir / f"{role}_weights.pth") for role in ("semantic", "artifact", "fusion")}
        return {"backbone": str(out_dir / "backbone"), "vae": str(out_dir / "vae"), **heads}

    @classmethod
    def random_options(cls, tiny: bool, seed: int) -> dict[str, Any]:
        return {"artifact_layers": TINY_LAYERS} if tiny else {}


def _random_clip_config() -> dict[str, Any]:
    """The random stand-in for the SigLIP backbone (GELU, not QuickGELU), tiny or not."""
    return tiny_clip_config(SIGLIP_FEATURES, image_size=384, patch_size=32, quick_gelu=False)
