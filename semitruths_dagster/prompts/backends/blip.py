"""The image captioner: BLIP (paper: blip-image-captioning-large), unconditional captioning."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ...models import LoadedModel
from ..parsing import parse_blip_caption
from .base import BackendInfo, Captioner
from .generation import batches, load_rgb, to_device

BLIP_CAPTION_VERSION = "blip_caption@1"


class BlipCaptioner(Captioner):
    """Captioner over a loaded BLIP model and processor (role `captioner`); beam search, deterministic."""

    MODEL_ROLE = "captioner"

    template_version = BLIP_CAPTION_VERSION

    def __init__(
        self, handle: LoadedModel, max_new_tokens: int = 30, num_beams: int = 3, batch_size: int = 16
    ) -> None:
        self.handle = handle
        self.max_new_tokens = max_new_tokens
        self.num_beams = num_beams
        self.batch_size = batch_size
        self.info = BackendInfo.of_model("blip", handle)

    @torch.inference_mode()
    def caption_images(
        self, image_paths: Sequence[str | None], entities: Sequence[Sequence[str]]
    ) -> list[str]:
        """One cleaned caption per image (entities are not used: BLIP sees the picture)."""
        captions: list[str] = []
        for batch in batches(list(image_paths), self.batch_size):
            inputs = self.handle.processor(images=[load_rgb(p) for p in batch], return_tensors="pt")
            inputs = to_device(inputs, self.handle.device, self.handle.dtype)
            output = self.handle.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, num_beams=self.num_beams, do_sample=False
            )
            raw = self.handle.processor.batch_decode(output, skip_special_tokens=True)
            captions += [parse_blip_caption(r) for r in raw]
        return captions
