"""A detector's input transform (resize, crop, normalise) as data, so it can be applied, moved and signed.

Most detectors' paper code is `[Resize] -> [CenterCrop] -> ToTensor -> Normalize`. `Preprocessing` holds
those parameters and applies them with torchvision's functions, as the papers do. A few more steps cover the
2025 detectors, each off by default: `pad_to` (pad short sides, SPAI's PadIfNeeded), `grid` (trim the frame to
a multiple of a ViT patch, so pixel crops equal token crops: B-Free), `crops="five"` (centre + 4 corners,
stacked as (5, C, H, W); the detector averages the crops' outputs), `pad` (how a crop wider than the frame
is filled: zeros, or B-Free's periodic tiling), `offset` (torchvision rounds a centre crop's offset,
albumentations floors it) and `clamp` (clip the normalised tensor, as the Semi-Truths evaluation code
`stress_testing/run_1.py` does after its ImageNet normalisation: `protocol.py`). The mask-aware crop
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
CROP_MODES = ("center", "five")
PAD_MODES = ("zero", "wrap", "reflect")
OFFSET_MODES = ("round", "floor")


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
    crop: None or the side of the square crop(s); even: trim an odd last row / column (NPR's
    down/up-sampling needs even sides; its code comments do the same).

    The fields after `even` default to the plain transform above (and are left out of its signature):
    pad_to: pad each side shorter than this, centred (top/left get the floor of half), with `pad`;
    grid: trim the frame's right/bottom to a multiple of this, and keep crop corners on it;
    crops: 'center' (one crop) or 'five' (centre, top-left, bottom-left, bottom-right, top-right);
    pad: fill where a crop is larger than the frame: 'zero' (torchvision), 'wrap' (tile the frame and cut
    one crop x crop window from its top-left: B-Free's wrapper), 'reflect' (reflect-101, cv2's default);
    offset: centre offset (frame - crop) / 2 'round'ed (torchvision) or 'floor'ed (albumentations, B-Free);
    clamp: (low, high) the normalised tensor is clipped to (`torch.clamp` after `Normalize`), or None.
    """

    resize: int | tuple[int, int] | None
    crop: int | None
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    even: bool = False
    pad_to: int | None = None
    grid: int = 1
    crops: str = "center"
    pad: str = "zero"
    offset: str = "round"
    clamp: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for name, value, allowed in (
            ("crops", self.crops, CROP_MODES),
            ("pad", self.pad, PAD_MODES),
            ("offset", self.offset, OFFSET_MODES),
        ):
            if value not in allowed:
                raise ValueError(f"preprocessing {name}={value!r}: expected one of {allowed}")
        if self.crops != "center" and self.crop is None:
            raise ValueError(f"preprocessing crops={self.crops!r} needs a crop size")
        if self.crop is not None and self.crop % self.grid:
            raise ValueError(f"preprocessing crop {self.crop} is not a multiple of grid {self.grid}")
        if self.clamp is not None and not self.clamp[0] < self.clamp[1]:
            raise ValueError(f"preprocessing clamp {self.clamp}: expected (low, high) with low < high")

    @property
    def movable_crop(self) -> bool:
        """Whether a mask-aware `CropBox` can replace the crop (one crop in the plain resized frame)."""
        return self.crop is not None and self.crops == "center" and self.pad_to is None and self.grid == 1

    def _resize(self, image: Image.Image, interpolation: InterpolationMode) -> Image.Image:
        if self.resize is None:
            return image
        size = [self.resize] if isinstance(self.resize, int) else list(self.resize)
        return TF.resize(image, size, interpolation=interpolation)

    def _pad_to(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if self.pad_to is None or (w >= self.pad_to and h >= self.pad_to):
            return img
        dw, dh = max(self.pad_to - w, 0), max(self.pad_to - h, 0)
        widths = ((dh // 2, dh - dh // 2), (dw // 2, dw - dw // 2), (0, 0))
        mode = {"zero": "constant", "reflect": "reflect", "wrap": "wrap"}[self.pad]
        return Image.fromarray(np.pad(np.asarray(img), widths, mode=mode))

    def _grid_and_wrap(self, img: Image.Image) -> Image.Image:
        w, h = img.size
        if self.grid > 1:
            w, h = w - w % self.grid, h - h % self.grid
            img = img.crop((0, 0, w, h))
        if self.pad == "wrap" and self.crop is not None and (w < self.crop or h < self.crop):
            tiled = Image.new(img.mode, (self.crop, self.crop))
            for top in range(0, self.crop, h):
                for left in range(0, self.crop, w):
                    tiled.paste(img, (left, top))
            img = tiled
        return img

    def frame_size(self, size: tuple[int, int]) -> tuple[int, int]:
        """(w, h) of an image of `size` (w, h) after the resize step, computed by the same resize call."""
        probe = Image.new("L", size)
        return self._resize(probe, InterpolationMode.NEAREST).size

    def frame_mask(self, mask: np.ndarray) -> np.ndarray:
        """A boolean mask (h, w) of the original image brought into the frame (nearest neighbour)."""
        image = Image.fromarray(np.asarray(mask, dtype=bool).astype(np.uint8) * 255, mode="L")
        return np.asarray(self._resize(image, InterpolationMode.NEAREST)) > 127

    def _offset(self, side: int) -> int:
        diff = side - self.crop
        if diff < 0 and self.offset == "floor":
            return -((-diff) // 2)  # padding puts the floor of half the gap on the top/left
        if self.offset == "floor":
            return diff // self.grid // 2 * self.grid  # on the grid: B-Free's (tokens - 36) // 2 tokens
        return int(round(diff / 2.0))

    def center_box(self, frame: tuple[int, int]) -> CropBox | None:
        """The box the centre crop takes in a frame of (w, h); None when there is no crop."""
        if self.crop is None:
            return None
        w, h = frame
        return CropBox(self._offset(w), self._offset(h), self.crop, self.crop, frame)

    def crop_boxes(self, frame: tuple[int, int]) -> list[CropBox]:
        """Every crop taken from a frame of (w, h) (after `pad_to`, `grid` and wrapping), in order."""
        if self.crop is None:
            return []
        center = self.center_box(frame)
        if self.crops == "center":
            return [center]
        w, h = frame
        right, bottom = w - self.crop, h - self.crop
        if self.pad == "wrap" or self.grid > 1:  # corners on the grid, as a ViT's token crops
            right, bottom = max(right, 0), max(bottom, 0)
        corners = [(0, 0), (0, bottom), (right, bottom), (right, 0)]
        return [center] + [CropBox(x, y, self.crop, self.crop, frame) for x, y in corners]

    def frame(self, image: Image.Image) -> Image.Image:
        """The RGB image the crops are taken from: resized, padded, trimmed to the grid, wrapped."""
        img = self._resize(image.convert("RGB"), INTERPOLATIONS[self.interpolation])
        return self._grid_and_wrap(self._pad_to(img))

    def _to_tensor(self, img: Image.Image) -> torch.Tensor:
        if self.even:
            w, h = img.size
            img = img.crop((0, 0, w - w % 2, h - h % 2))
        tensor = TF.normalize(TF.to_tensor(img), list(self.mean), list(self.std))
        return tensor if self.clamp is None else tensor.clamp(*self.clamp)

    def apply(self, image: Image.Image, box: CropBox | None = None) -> torch.Tensor:
        """The normalised (3, H, W) tensor, or (5, 3, H, W) for five crops; `box` (from the mask-aware
        crop) replaces the centre crop."""
        img = self.frame(image)
        if self.crop is None:
            return self._to_tensor(img)
        if box is not None:
            if not self.movable_crop:
                raise ValueError(f"this detector's crops ({self.crops}, grid {self.grid}) cannot be moved")
            if box.frame != img.size or (box.width, box.height) != (self.crop, self.crop):
                raise ValueError(
                    f"crop box {box} does not fit this detector: frame {img.size}, crop {self.crop}; "
                    "a twin's box can only be reused for an image of the same size"
                )
            return self._to_tensor(TF.crop(img, box.top, box.left, box.height, box.width))
        if self.crops == "center" and self.offset == "round":
            return self._to_tensor(TF.center_crop(img, [self.crop, self.crop]))  # torchvision's, bit for bit
        # PIL's crop fills outside the frame with zeros, as CenterCrop's padding does.
        tensors = [
            self._to_tensor(img.crop((b.left, b.top, b.left + b.width, b.top + b.height)))
            for b in self.crop_boxes(img.size)
        ]
        return tensors[0] if self.crops == "center" else torch.stack(tensors)

    def signature(self, box: CropBox | None = None) -> str:
        """A stable string that changes whenever the tensor a detector sees could change."""
        fields = asdict(self)
        for name, default in DEFAULT_EXTRAS.items():  # unchanged signatures for the plain transform
            if fields[name] == default:
                del fields[name]
        fields["resize"] = list(self.resize) if isinstance(self.resize, tuple) else self.resize
        fields["mean"], fields["std"] = list(self.mean), list(self.std)
        if "clamp" in fields:
            fields["clamp"] = list(self.clamp)
        fields["box"] = None if box is None or not self.movable_crop else box.as_list()
        fields["code"] = PREPROCESSING_CODE_VERSION
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))


DEFAULT_EXTRAS = {"pad_to": None, "grid": 1, "crops": "center", "pad": "zero", "offset": "round", "clamp": None}
