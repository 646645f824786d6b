"""Detector inputs as the authors' code builds them, where random weights would hide a difference:
AIDE's un-antialiased resize, DE-FAKE's BLIP captions (224 px, prompt stripped), C2P-CLIP's two key layouts."""

from __future__ import annotations

import os

import torch
import torch.nn.functional as F
import torchvision.transforms as T

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from semitruths_dagster.detectors.plugins.aide import PatchSelection  # noqa: E402
from semitruths_dagster.detectors.preprocessing import IMAGENET_MEAN, IMAGENET_STD  # noqa: E402


def _stripes(h: int, w: int) -> torch.Tensor:
    """A (3, h, w) [0, 1] image of 1-px stripes: fine detail that a downsizing resize aliases."""
    cols = (torch.arange(w) % 2).float()
    rows = (torch.arange(h) % 3 == 0).float()[:, None]
    return torch.stack([cols.expand(h, w), rows.expand(h, w), 0.5 * (cols + rows) % 1.0])


# --- AIDE --------------------------------------------------------------------------------------------------


def test_aide_resizes_without_antialiasing_as_the_authors_torchvision():
    image = _stripes(400, 300)  # larger than 256: the whole-image view is downsized
    views = PatchSelection().select(image)
    norm = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)
    # torchvision 0.12 / 0.15 `Resize([256, 256])` on a tensor = bilinear interpolation, no antialias
    plain = F.interpolate(image[None], size=(256, 256), mode="bilinear", align_corners=False, antialias=False)[0]
    torch.testing.assert_close(views[4], norm(plain), atol=1e-5, rtol=0)
    smoothed = F.interpolate(image[None], size=(256, 256), mode="bilinear", align_corners=False, antialias=True)[0]
    assert (views[4] - norm(smoothed)).abs().max() > 0.5  # the antialiased view is another input
