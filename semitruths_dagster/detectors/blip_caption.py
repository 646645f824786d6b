"""DE-FAKE's BLIP captions as the authors make them, through transformers' BLIP.

The authors (zeyangsha/De-Fake `test.py`, `blipmodels/blip.py`; the Semi-Truths evaluation, J-Kruk/SemiTruths
`SemiTruths/stress_testing/run_1.py`) build `blip_decoder(pretrained=model_base_capfilt_large.pth,
image_size=224, vit='base')`, the BLIP ViT-B pre-trained on 129M images with CapFilt-L, and call
`generate(image, sample=False, num_beams=3, max_length=60, min_length=5)`: beam search (repetition penalty
1.0) from the decoder prompt 'a picture of ' (its [CLS] replaced by [DEC], its [SEP] dropped), stopping at
[SEP]; max/min length count the prompt's tokens; each caption is decoded without special tokens and its
first len('a picture of ') characters cut off. The caption goes to `clip.tokenize` as it is.
BLIP's input: De-Fake `test.py` Resize(224) (bilinear, shorter side), CenterCrop(224), ToTensor and NO
normalisation (`pixels='none'`, the default here); Semi-Truths `run_1.py` gave BLIP its detector input,
ImageNet-normalised then clamped to [0, 1] (`'imagenet_clamped'`); BLIP was trained with CLIP's mean/std
(`'blip'`, what the processor does).

Weights: a transformers BLIP captioner (folder or hub id; its tokenizer and text config are used), and
optionally the authors' original file `model_base_capfilt_large.pth` (BLIP repo layout, `{'model': state}`),
whose vision and decoder weights are renamed to transformers' names (the mapping of transformers'
`convert_blip_original_pytorch_to_hf.py`) and loaded strictly at the file's own 224-px positions. Without
it the transformers checkpoint runs at 224 px with its position embeddings bicubic-interpolated
(`interpolate_pos_encoding`): a deviation, see README "Deviations".
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torchvision.transforms as T
from PIL import Image

from .checkpoints import CheckpointError, load_into, read_checkpoint, select_state_dict
from .preprocessing import IMAGENET_MEAN, IMAGENET_STD

PIXELS = ("none", "imagenet_clamped", "blip")
# BLIP repo names (models/vit.py, models/blip.py) -> transformers BlipForConditionalGeneration names.
VISION_RENAMES = (
    (r"^visual_encoder\.cls_token$", "vision_model.embeddings.class_embedding"),
    (r"^visual_encoder\.pos_embed$", "vision_model.embeddings.position_embedding"),
    (r"^visual_encoder\.patch_embed\.proj\.", "vision_model.embeddings.patch_embedding."),
    (r"^visual_encoder\.norm\.", "vision_model.post_layernorm."),
    (r"^visual_encoder\.blocks\.(\d+)\.norm(\d)\.", r"vision_model.encoder.layers.\1.layer_norm\2."),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.qkv\.", r"vision_model.encoder.layers.\1.self_attn.qkv."),
    (r"^visual_encoder\.blocks\.(\d+)\.attn\.proj\.", r"vision_model.encoder.layers.\1.self_attn.projection."),
    (r"^visual_encoder\.blocks\.(\d+)\.mlp\.", r"vision_model.encoder.layers.\1.mlp."),
)


@dataclass(frozen=True)
class CaptionSettings:
    image_size: int = 224
    prompt: str = "a picture of "
    pixels: str = "none"
    num_beams: int = 3
    max_length: int = 60
    min_length: int = 5


def original_to_transformers(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A BLIP-repo captioner state dict in transformers' names. Only `visual_encoder.*` and `text_decoder.*`
    are kept (what `blip_decoder` loads from a pre-training file; its other keys are other heads), without
    the decoder's `position_ids` buffer (an arange, not a weight)."""
    out = {}
    for key, value in state.items():
        if key.startswith("text_decoder.") and not key.endswith(".position_ids"):
            out[key] = value
        elif key.startswith("visual_encoder."):
            for pattern, target in VISION_RENAMES:
                new = re.sub(pattern, target, key)
                if new != key:
                    out[new] = value
                    break
            else:
                out[key] = value  # left unrenamed: the strict load names it
    return out


class BlipCaptioner:
    """A transformers BLIP captioner run with the authors' input and decoding."""

    def __init__(
        self,
        ref: str,
        device: torch.device,
        what: str,
        original: tuple[str | Path, str] | None = None,
        allow_pickle: bool = False,
    ) -> None:
        """`ref`: a transformers BLIP captioner; `original`: (the authors' .pth, how errors name it)."""
        from transformers import BlipConfig, BlipForConditionalGeneration, BlipProcessor

        try:
            self.processor = BlipProcessor.from_pretrained(ref)
            if original is None:
                model = BlipForConditionalGeneration.from_pretrained(ref)
            else:
                path, what_original = original
                model = self._from_original(BlipConfig.from_pretrained(ref), Path(path), what_original, allow_pickle)
        except OSError as exc:
            raise CheckpointError(f"{what}: cannot load BLIP {ref!r}: {exc}") from exc
        self.model = model.to(device).eval()
        self.device = device
        self.what = what

    @staticmethod
    def _from_original(config: Any, path: Path, what: str, allow_pickle: bool) -> Any:
        from transformers import BlipForConditionalGeneration

        obj = read_checkpoint(path, what, allow_pickle)
        state = original_to_transformers(select_state_dict(obj, "model", path, what))
        pos = state.get("vision_model.embeddings.position_embedding")
        if pos is None:
            raise CheckpointError(f"{what}: {path} has no 'visual_encoder.pos_embed': not a BLIP captioner file")
        grid = round((pos.shape[1] - 1) ** 0.5)
        config.vision_config.image_size = grid * config.vision_config.patch_size  # the file's own positions
        model = BlipForConditionalGeneration(config)
        load_into(model, state, path, what)
        return model

    def pixels(self, images: Sequence[Image.Image], settings: CaptionSettings) -> torch.Tensor:
        """BLIP's input batch: Resize(shorter side) + CenterCrop + ToTensor, then `settings.pixels`."""
        size = settings.image_size
        tensors = torch.stack([T.ToTensor()(T.CenterCrop(size)(T.Resize(size)(im.convert("RGB")))) for im in images])
        if settings.pixels == "imagenet_clamped":
            return T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(tensors).clamp(0.0, 1.0)
        if settings.pixels == "blip":
            proc = self.processor.image_processor
            return T.Normalize(proc.image_mean, proc.image_std)(tensors)
        return tensors

    @torch.inference_mode()
    def __call__(self, images: Sequence[Image.Image], settings: CaptionSettings) -> list[str]:
        tok = self.processor.tokenizer
        pixels = self.pixels(images, settings).to(self.device, dtype=self.model.dtype)
        prompt = tok([settings.prompt] * len(images), return_tensors="pt").input_ids.to(self.device)
        out = self.model.generate(
            pixel_values=pixels,
            input_ids=prompt,  # generate() swaps [CLS] for [DEC] and drops [SEP], as BLIP's does
            interpolate_pos_encoding=True,  # a no-op when the weights' positions are this size already
            num_beams=settings.num_beams,
            max_length=settings.max_length,
            min_length=settings.min_length,
            repetition_penalty=1.0,
            do_sample=False,
        )
        texts = tok.batch_decode(out, skip_special_tokens=True)
        head = settings.prompt.strip()
        bad = [t for t in texts if not t.startswith(head)]
        if bad:
            raise CheckpointError(f"{self.what}: the tokenizer does not give back the prompt {head!r}: {bad[0]!r}")
        return [t[len(settings.prompt):] for t in texts]  # the authors cut the prompt's characters
