"""RINE (Koutlis & Papadopoulos, ECCV 2024): CLS tokens of every CLIP ViT-L/14 block, weighted and classified.

Authors' code (mever-team/rine `src/models.py`, `src/utils.py`): forward hooks on every `ln_2` of
`clip.visual` (OpenAI's ViT-L/14, frozen) keep each block's normalised CLS token (1024-d, 24 blocks);
`proj1` (Dropout + `nproj` x [Linear, ReLU, Dropout], 1024 -> proj_dim) maps each token, `softmax(alpha)`
over the blocks weights them (`alpha` [1, 24, proj_dim]), their sum goes through `proj2` (same pattern,
proj_dim -> proj_dim) and `head` (Linear, ReLU, Dropout, Linear, ReLU, Dropout, Linear -> 1); `sigmoid` of
the logit is P(fake). Test transform: CenterCrop(224), no resize, ToTensor, CLIP mean/std. Checkpoints
(`ckpt/model_{1class,2class,4class,ldm}_trainable.pth`) hold the trainable parameters only, a plain state
dict `alpha`, `proj1.{1,4,...}`, `proj2.{1,4,...}`, `head.{0,3,6}`; `nproj` and `proj_dim` differ per file
(2-class: 4 and 128; 1-class and ldm: 4 and 1024; 4-class: 2 and 1024), so they are read from the file's
shapes. Backbone: an open_clip ref (`open_clip:ViT-L-14/openai`) or a local open_clip folder; its block
count and width must match the file's (checked, with both numbers in the error).
Precision (`detectors.dtype: authors`): as the authors' `clip.load(..., device=device)`, the CLIP runs in
float16 on CUDA (float32 on the CPU, where clip.load casts to float) while `proj1`/`proj2`/`head`/`alpha`
stay float32 and the tokens are cast to float before `proj1` (their `g.float()`).
Random stand-in: a 2-block, 32-wide open_clip ViT and a head with the 2-class file's keys (proj_dim 16).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..backbones import (
    CLIP_MEAN,
    CLIP_STD,
    OPENAI_VIT_L14,
    build_open_clip,
    load_open_clip,
    save_open_clip_folder,
    vit_l14_clip_config,
)
from ..base import Detector
from ..checkpoints import CheckpointError, load_into, read_tensors, select_state_dict
from ..preprocessing import Preprocessing
from ..runtime import AUTHORS

CHECKPOINT = "model_2class_trainable.pth"
MIXED = "float16-clip+float32-head"  # the authors' precision on CUDA


def _projection(in_dim: int, dim: int, nproj: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Dropout()]
    for i in range(nproj):
        layers += [nn.Linear(in_dim if i == 0 else dim, dim), nn.ReLU(), nn.Dropout()]
    return nn.Sequential(*layers)


class RINEHead(nn.Module):
    """The trainable part: attribute names and Sequential indices match the released files."""

    def __init__(self, blocks: int, width: int, proj_dim: int, nproj: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.zeros(1, blocks, proj_dim))
        self.proj1 = _projection(width, proj_dim, nproj)
        self.proj2 = _projection(proj_dim, proj_dim, nproj)
        self.head = nn.Sequential(
            nn.Linear(proj_dim, proj_dim), nn.ReLU(), nn.Dropout(),
            nn.Linear(proj_dim, proj_dim), nn.ReLU(), nn.Dropout(),
            nn.Linear(proj_dim, 1),
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """tokens: [N, blocks, width] CLS tokens -> [N, 1] logits."""
        g = self.proj1(tokens.to(self.alpha.dtype))
        z = (torch.softmax(self.alpha, dim=1) * g).sum(dim=1)
        return self.head(self.proj2(z))


class RINEModel(nn.Module):
    """open_clip CLIP (frozen) whose blocks' `ln_2` outputs are caught by hooks, + `RINEHead`."""

    def __init__(self, clip: nn.Module, head: RINEHead) -> None:
        super().__init__()
        self.clip = clip
        self.head = head
        self._outputs: list[torch.Tensor] = []
        for block in clip.visual.transformer.resblocks:
            block.ln_2.register_forward_hook(lambda _m, _i, out: self._outputs.append(out))
        self._batch_first = getattr(clip.visual.transformer, "batch_first", True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._outputs.clear()
        self.clip.encode_image(x)
        # each hook output is [N, L, D] (batch first) or [L, N, D]; token 0 is CLS
        cls = [o[:, 0] if self._batch_first else o[0] for o in self._outputs]
        self._outputs.clear()
        return self.head(torch.stack(cls, dim=1))


def head_shape(state: dict[str, torch.Tensor], path: Path, what: str) -> tuple[int, int, int, int]:
    """(blocks, width, proj_dim, nproj) of a trainable-parameter file, from its shapes."""
    if "alpha" not in state or state["alpha"].dim() != 3 or "proj1.1.weight" not in state:
        raise CheckpointError(
            f"{what}: {path} is not a RINE trainable-parameter file (needs 'alpha' [1, blocks, dim] and "
            f"'proj1.1.weight'; found {sorted(state)[:6]})"
        )
    _, blocks, proj_dim = state["alpha"].shape
    nproj = len([k for k in state if re.fullmatch(r"proj1\.\d+\.weight", k)])
    return int(blocks), int(state["proj1.1.weight"].shape[1]), int(proj_dim), nproj


class RINE(Detector):
    PLUGIN = "rine"
    WEIGHT_ROLES = ("backbone", "head")
    OPTIONS = {
        "crop": ((int,), 224, "the centre crop side (an integer)"),
        "filename": ((str,), CHECKPOINT, "the head file inside a local folder or hub repo"),
    }

    AUTHORS_PRECISION = f"{MIXED} on CUDA, float32 on the CPU"

    def resolve_precision(self, dtype: torch.dtype | str) -> tuple[torch.dtype, str]:
        if dtype == AUTHORS and self.device.type == "cuda":
            return torch.float16, MIXED
        return super().resolve_precision(dtype)

    def place(self, model: nn.Module) -> nn.Module:
        if self.precision != MIXED:
            return super().place(model)
        model.to(self.device, dtype=torch.float32)
        model.clip.half()  # clip.load's float16 weights; the head stays float32
        return model

    def build_preprocessing(self) -> Preprocessing:
        return Preprocessing(resize=None, crop=self.options["crop"], mean=CLIP_MEAN, std=CLIP_STD)

    def load_model(self) -> nn.Module:
        path = self.weight_file("head", self.options["filename"])
        state = select_state_dict(read_tensors(path, self.what("head")), None, path, self.what("head"))
        blocks, width, proj_dim, nproj = head_shape(state, path, self.what("head"))
        kind, ref = self.weight_ref("backbone")
        clip = load_open_clip(kind, ref, self.what("backbone"), stands_for=OPENAI_VIT_L14)
        have_blocks = len(clip.visual.transformer.resblocks)
        have_width = clip.visual.transformer.width
        if (have_blocks, have_width) != (blocks, width):
            raise CheckpointError(
                f"{self.what('backbone')}: {ref} has {have_blocks} blocks of width {have_width}, but the head "
                f"{path} was trained on {blocks} blocks of width {width} (RINE's is CLIP ViT-L/14: 24 x 1024)"
            )
        head = RINEHead(blocks, width, proj_dim, nproj)
        load_into(head, state, path, self.what("head"))
        return RINEModel(clip, head)

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[Any, nn.Module]:
        vision = vit_l14_clip_config(768, tiny)["vision_cfg"]
        clip = build_open_clip(vit_l14_clip_config(768, tiny))
        head = RINEHead(vision["layers"], vision["width"], 16 if tiny else 128, 4)
        nn.init.normal_(head.alpha)
        return clip, head

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        clip, head = model
        save_open_clip_folder(clip, vit_l14_clip_config(768, tiny), out_dir / "backbone")
        torch.save(head.state_dict(), out_dir / CHECKPOINT)
        return {"backbone": str(out_dir / "backbone"), "head": str(out_dir / CHECKPOINT)}
