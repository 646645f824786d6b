"""Map-output detectors: a `Localizer` gives, for each image, a per-pixel map of P(edited) with its
image-level P(fake).

The contract the localization assets rely on (duck-typed):
- `PRODUCES_MAPS = True`;
- `localize(images, batch_size)` -> (scores float64 (N,), N float32 maps in [0, 1], each (H, W) of its own
  image: the model's map resized back bilinearly from the model's resolution);
- `score(...)` returns the same image-level scores, so a localizer is also an ordinary detector in
  `detector_predictions`.

A plugin implements `forward_maps(pixels)` -> (image-level P(fake) per row, or None; maps (B, 1, h, w) or
(B, h, w) of P(edited) at the model's resolution, covering the whole input tensor: a plugin that pads
internally crops its map back). Where the method has no
detection score of its own (`SCORE_FROM = "map_max"`), the score is the maximum of the returned map, as the
localization literature scores image-level detection from maps.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .base import Detector
from .preprocessing import CropBox

SCORE_SOURCES = ("detection_head", "map_max")


class Localizer(Detector):
    """A detector whose network outputs a localization map (and maybe its own detection score)."""

    PRODUCES_MAPS: ClassVar[bool] = True
    # 'detection_head': the method's own image-level score; 'map_max': the map's maximum.
    SCORE_FROM: ClassVar[str] = "map_max"
    # The weights' licence as the authors publish it; several forensics releases are non-commercial.
    LICENCE: ClassVar[str] = ""
    # The paper evaluated no localizer, and its resize + centre crop would misplace the map on the image.
    PAPER_PROTOCOL: ClassVar[bool] = False

    @abstractmethod
    def forward_maps(self, pixels: torch.Tensor) -> tuple[torch.Tensor | None, torch.Tensor]:
        """(P(fake) per row or None, P(edited) maps (B, [1,] h, w) in [0, 1]) for a preprocessed batch."""

    @torch.inference_mode()
    def localize(
        self, images: Sequence[Image.Image], batch_size: int = 8
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """Image-level P(fake) (float64, (N,)) and one float32 map in [0, 1] per image, of its size (H, W)."""
        scores = np.empty(len(images), dtype=np.float64)
        maps: list[np.ndarray | None] = [None] * len(images)
        for start in range(0, len(images), batch_size):
            idx = list(range(start, min(start + batch_size, len(images))))
            tensors = {i: self.preprocessing.apply(images[i]) for i in idx}
            for shape in dict.fromkeys(t.shape for t in tensors.values()):
                sub = [i for i in idx if tensors[i].shape == shape]
                pixels = torch.stack([tensors[i] for i in sub]).to(self.device, dtype=self.dtype)
                own, out = self.forward_maps(pixels)
                out = out.float().reshape(len(sub), 1, *out.shape[-2:])
                for row, i in enumerate(sub):
                    m = self._to_image(out[row : row + 1], images[i])
                    maps[i] = m
                    scores[i] = float(m.max()) if own is None else float(own[row].float())
        return scores, maps  # type: ignore[return-value]

    @staticmethod
    def _to_image(out: torch.Tensor, image: Image.Image) -> np.ndarray:
        """A (1, 1, h, w) map of the whole input tensor resized to the image's (H, W), in [0, 1]."""
        width, height = image.size
        if tuple(out.shape[-2:]) != (height, width):
            out = F.interpolate(out, size=(height, width), mode="bilinear", align_corners=False)
        return out[0, 0].clamp(0.0, 1.0).cpu().numpy().astype(np.float32)

    def score(
        self,
        images: Sequence[Image.Image],
        boxes: Sequence[CropBox | None] | None = None,
        texts: Sequence[str] | None = None,
        batch_size: int = 16,
    ) -> np.ndarray:
        """The image-level scores of `localize` (a localizer sees the whole image: crop boxes do not apply)."""
        if boxes is not None and len(boxes) != len(images):
            raise ValueError(f"{len(images)} images but {len(boxes)} crop boxes")
        return self.localize(images, batch_size)[0]
