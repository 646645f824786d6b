"""DE-FAKE (Sha et al., CCS 2023): CLIP ViT-B/32 image + caption embeddings -> MLP 1024-512-256-2.

Paper code (zeyangsha/De-Fake `test.py`, `blipmodels/blip.py`; the Semi-Truths evaluation J-Kruk/SemiTruths
`SemiTruths/stress_testing/run_1.py`): the image is resized to 224x224 (PIL `img.resize`, bicubic), then CLIP's
preprocessing (a no-op resize / centre crop at 224, CLIP mean/std); its BLIP caption (beam 3, 5-60
tokens) is tokenized by CLIP; `linear(cat(encode_image, encode_text))`, class = argmax of 2 logits.
Here P(fake) = softmax(logits)[fake_index]; the class order is not documented in the code, so
`fake_index` is an option (default 1: real images are class 0).

Checkpoints `finetune_clip.pt` and `clip_linear.pt` are PICKLED WHOLE MODULES (`torch.save(model)`):
loading them runs code named in the file, so they load only when the spec says `allow_pickle: true`.
`clip_linear.pt` names its class `__main__.NeuralNet` (it was saved from a script); that name is mapped
to `NeuralNet` below and its weights copied into a fresh module. `finetune_clip.pt` needs OpenAI's `clip`
package. The CLIP is cast to float32 (`clip.load` on a GPU keeps float16 weights).

Captions: pass `texts=`, or give `weights.captioner` (a transformers BLIP folder or hub id,
`Salesforce/blip-image-captioning-base`) and optionally `weights.captioner_original` (the authors'
`model_base_capfilt_large.pth`); captions are made as the authors make them, see `..blip_caption`
(224 px, un-normalised pixels, prompt 'a picture of ' stripped, beam 3, 5-60 tokens).
Random stand-in: a tiny open_clip with the real 224 px input and 512-d embeddings (so the MLP has its
real 1024-512-256-2 shape), pickled whole like the originals, plus the project's tiny BLIP captioner.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from ..backbones import CLIP_MEAN, CLIP_STD, build_open_clip, tiny_clip_config
from ..base import Detector
from ..blip_caption import PIXELS, BlipCaptioner, CaptionSettings
from ..checkpoints import CheckpointError, load_into, load_pickled_module
from ..preprocessing import Preprocessing
from ..spec import DetectorSpec, SpecError

EMBED = 512  # CLIP ViT-B/32 embedding width: image + text = 1024
HEAD_CLASS = f"{__name__}.NeuralNet"


class NeuralNet(nn.Module):
    """DE-FAKE's classifier head, attribute for attribute (`fc1`, `fc2`, `fc3`, `dropout2`)."""

    def __init__(
        self, input_size: int = 2 * EMBED, hidden_size_list: Sequence[int] = (512, 256), num_classes: int = 2
    ) -> None:
        super().__init__()
        self.dropout2 = nn.Dropout(0.5)
        self.fc1 = nn.Linear(input_size, hidden_size_list[0])
        self.fc2 = nn.Linear(hidden_size_list[0], hidden_size_list[1])
        self.fc3 = nn.Linear(hidden_size_list[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.dropout2(F.relu(self.fc1(x)))
        return self.fc3(F.relu(self.fc2(out)))


class DeFakeModel(nn.Module):
    """The CLIP (as unpickled) and the head; forward takes pixels and CLIP token ids."""

    def __init__(self, clip: nn.Module, head: NeuralNet) -> None:
        super().__init__()
        self.clip = clip
        self.head = head

    def forward(self, pixels: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        emb = torch.cat((self.clip.encode_image(pixels), self.clip.encode_text(tokens)), 1)
        return self.head(emb.to(next(self.head.parameters()).dtype))  # the model's dtype (fp32 or the GPU's)


@contextmanager
def _pickled_as_main(cls: type) -> Iterator[None]:
    """Pickle `cls` under `__main__`, as a script's `torch.save(model)` does (the real file's format)."""
    main = sys.modules["__main__"]
    missing = object()
    old_attr, old_module = getattr(main, cls.__name__, missing), cls.__module__
    cls.__module__ = "__main__"
    setattr(main, cls.__name__, cls)
    try:
        yield
    finally:
        cls.__module__ = old_module
        if old_attr is missing:
            delattr(main, cls.__name__)
        else:
            setattr(main, cls.__name__, old_attr)


class DeFake(Detector):
    PLUGIN = "defake"
    # The Semi-Truths evaluation gave BLIP the ImageNet-normalised, clamped pixels it scored.
    PAPER_OPTIONS = {"caption_pixels": "imagenet_clamped"}
    WEIGHT_ROLES = ("clip", "head")
    OPTIONAL_WEIGHT_ROLES = ("captioner", "captioner_original")
    OUTPUT = "softmax"
    OPTIONS = {
        "fake_index": ((int,), 1, "index of the fake class among the 2 logits (0 or 1)"),
        "image_size": ((int,), 224, "the square size images are resized to"),
        "caption_image_size": ((int,), 224, "BLIP's input: Resize(shorter side) + CenterCrop to this size"),
        "caption_prompt": ((str,), "a picture of ", "BLIP's decoder prompt, cut off the caption"),
        "caption_pixels": ((str,), "none", f"BLIP's pixel normalisation, one of {list(PIXELS)}"),
        "caption_num_beams": ((int,), 3, "BLIP beam width"),
        "caption_max_length": ((int,), 60, "BLIP maximum caption length"),
        "caption_min_length": ((int,), 5, "BLIP minimum caption length"),
    }

    @classmethod
    def check_spec(cls, spec: DetectorSpec) -> None:
        pixels = spec.options.get("caption_pixels")
        if pixels is not None and pixels not in PIXELS:
            raise SpecError(spec.source, "options.caption_pixels", f"{pixels!r} is not one of {list(PIXELS)}")
        if "captioner_original" in spec.weights and "captioner" not in spec.weights:
            raise SpecError(spec.source, "weights.captioner_original",
                            "needs weights.captioner too (its tokenizer and config)")

    def build_preprocessing(self) -> Preprocessing:
        size = self.options["image_size"]
        return Preprocessing(
            resize=(size, size), crop=None, mean=CLIP_MEAN, std=CLIP_STD, interpolation="bicubic"
        )

    def load_model(self) -> nn.Module:
        _, clip_path = self.weight_ref("clip")
        clip = load_pickled_module(clip_path, self.spec.allow_pickle, self.what("clip"))
        if not (hasattr(clip, "encode_image") and hasattr(clip, "encode_text")):
            raise CheckpointError(
                f"{self.what('clip')}: {clip_path} is not a CLIP module (got {type(clip).__name__})"
            )
        _, head_path = self.weight_ref("head")
        remap = {"__main__.NeuralNet": HEAD_CLASS}
        obj = load_pickled_module(head_path, self.spec.allow_pickle, self.what("head"), remap)
        if not isinstance(obj, nn.Module):
            raise CheckpointError(
                f"{self.what('head')}: {head_path} is not a module (got {type(obj).__name__})"
            )
        head = NeuralNet()
        load_into(head, obj.state_dict(), head_path, self.what("head"))
        self._captioner: Any = None
        return DeFakeModel(clip.float(), head)

    def forward(self, pixels: torch.Tensor, texts: Sequence[str] | None = None) -> torch.Tensor:
        import open_clip

        if texts is None:
            raise ValueError(f"detector '{self.name}' needs one caption per image")
        # open_clip's tokenizer is OpenAI's BPE with the same 77-token context (truncating long captions).
        tokens = open_clip.tokenize(list(texts)).to(self.device)
        return self.model(pixels, tokens)

    def texts_for(self, images: Sequence[Image.Image], texts: Sequence[str] | None) -> Sequence[str]:
        if texts is not None:
            if len(texts) != len(images):
                raise ValueError(f"{len(images)} images but {len(texts)} captions")
            return texts
        if self.weight_ref("captioner") is None:
            raise ValueError(
                f"detector '{self.name}' needs captions: pass texts=, or set weights.captioner in its spec"
            )
        return self.caption(images)

    def caption(self, images: Sequence[Image.Image]) -> list[str]:
        """BLIP captions as the authors make them (loads the captioner once)."""
        if self._captioner is None:
            _, ref = self.weight_ref("captioner")
            original = self.weight_ref("captioner_original")
            self._captioner = BlipCaptioner(
                ref, self.device, self.what("captioner"),
                None if original is None else (original[1], self.what("captioner_original")), self.spec.allow_pickle,
            )
        return self._captioner(images, self.caption_settings)

    @property
    def caption_settings(self) -> CaptionSettings:
        o = self.options
        return CaptionSettings(
            image_size=o["caption_image_size"], prompt=o["caption_prompt"], pixels=o["caption_pixels"],
            num_beams=o["caption_num_beams"], max_length=o["caption_max_length"], min_length=o["caption_min_length"],
        )

    RANDOM_PICKLED = True  # both released files are pickled modules

    @classmethod
    def random_model(cls, tiny: bool) -> tuple[Any, nn.Module]:
        return build_open_clip(_random_clip_config(tiny)), NeuralNet()

    @classmethod
    def write_random(cls, model: Any, out_dir: Path, tiny: bool) -> dict[str, str]:
        from ...models import ensure_tiny

        clip, head = model
        torch.save(clip, out_dir / "finetune_clip.pt")
        with _pickled_as_main(NeuralNet):
            torch.save(head, out_dir / "clip_linear.pt")
        captioner = ensure_tiny(out_dir / "tiny", "captioner")
        return {
            "clip": str(out_dir / "finetune_clip.pt"),
            "head": str(out_dir / "clip_linear.pt"),
            "captioner": str(captioner),
        }


def _random_clip_config(tiny: bool) -> dict[str, Any]:
    """The random CLIP: tiny, or the real ViT-B/32 shape."""
    cfg = tiny_clip_config(EMBED, image_size=224, patch_size=32)
    if not tiny:
        cfg["vision_cfg"].update(layers=12, width=768, head_width=64)
        cfg["text_cfg"].update(width=512, heads=8, layers=12)
    return cfg
