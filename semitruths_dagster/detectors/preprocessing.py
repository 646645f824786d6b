"""A detector's input transform (resize, crop, normalise) as data, so it can be applied, moved and signed.

Every detector's paper code is `[Resize] -> [CenterCrop] -> ToTensor -> Normalize`. `Preprocessing` holds
those parameters and applies them with torchvision's functions, as the papers do. The mask-aware crop
(`cropping.py`) moves only the crop: a `CropBox` lives in the *frame* (the image after the resize step),
exactly where the centre crop would have been taken, and `apply(image, box)` crops there instead of the
centre. Without a box the transform is the paper's, bit for bit.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image
from torchvision.transforms import InterpolationMode

# Bump when `apply` changes behaviour: the signature (and so the prediction cache key) changes with it.
PREPROCESSING_CODE_VERSION = "1"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INTERPOLATIONS = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
    "lanczos": InterpolationMode.LANCZOS,
}


@dataclass(frozen=True)
class CropBox:
    """A crop window in a detector's frame: pixels [top, top+height) x [left, left+width) of `frame` (w, h).

    May reach outside the frame (when the frame is smaller than the crop); those pixels are zero-padded,
    as torchvision's CenterCrop does.
    """

    left: int
    top: int
    width: int
    height: int
    frame: tuple[int, int]

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.width, self.height, *self.frame]

    @classmethod
    def from_list(cls, values: list[int] | tuple[int, ...]) -> CropBox:
        """Inverse of `as_list` (for storing boxes in a table column)."""
        left, top, width, height, fw, fh = (int(v) for v in values)
        return cls(left, top, width, height, (fw, fh))


@dataclass(frozen=True)
class Preprocessing:
    """resize: None, an int (shorter side, torchvision `Resize(int)`) or [h, w] (exact size);
    crop: None or the side of the square centre crop; even: trim an odd last row / column (NPR's
    down/up-sampling needs even sides; its code comments do the same)."""

    resize: int | tuple[int, int] | None
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    even: bool = False

    def _resize(self, image: Image.Image, interpolation: InterpolationMode) -> Image.Image:
        if self.resize is None:
            return image
        size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
        return TF.resize(image, size, interpolation=interpolation)

    def frame_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(w, h) of an image of `size` (w, h) after the resize step, computed by the same resize call."""
        probe = Image.new("L", size)
        return self._resize(probe, InterpolationMode.NEAREST).size

    def frame_mask(self, mask: np.ndarray) -> np.ndarray:
        """A boolean mask (h, w) of the original image brought into the frame (nearest neighbour)."""
        image = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255, mode="L")
        return np.asarray(self._resize(image, InterpolationMode.NEAREST)) > 127

    def center_box(self, frame: tuple[int, int]) -> CropBox | None:
        """The box torchvision's CenterCrop takes in a frame of (w, h); None when there is no crop."""
        if self.crop is None:
            return None
        w, h = frame
        return CropBox(
            int(round((w - self.crop) / 2.0)), int(round((h - self.crop) / 2.0)), self.crop, self.crop, frame
        )

    def apply(self, image: Image.Image, box: CropBox | None = None) -> torch.Tensor:
        """The normalised (3, H, W) tensor; `box` (from the mask-aware crop) replaces the centre crop."""
        img = self._resize(image.convert("RGB"), INTERPOLATIONS[self.interpolation])
        if self.crop is not None:
            if box is None:
                img = TF.center_crop(img, [self.crop, self.crop])
            else:
                if box.frame != img.size or (box.width, box.height) != (self.crop, self.crop):
                    raise ValueError(
                        f"crop box {box} does not fit this detector: frame {img.size}, crop {self.crop}; "
                        "a twin's box can only be reused for an image of the same size"
                    )
                img = TF.crop(img, box.top, box.left, box.height, box.width)
        if self.even:
            w, h = img.size
            img = img.crop((0, 0, w - w % 2, h - h % 2))
        return TF.normalize(TF.to_tensor(img), list(self.mean), list(self.std))

    def signature(self, box: CropBox | None = None) -> str:
        """A stable string that changes whenever the tensor a detector sees could change."""
        fields = asdict(self)
        fields["resize"] = list(self.resize) if isinstance(self.resize, tuple) else self.resize
        fields["mean"], fields["std"] = list(self.mean), list(self.std)
        fields["box"] = None if box is None or self.crop is None else box.as_list()
        fields["code"] = PREPROCESSING_CODE_VERSION
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))
