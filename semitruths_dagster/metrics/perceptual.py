"""Model-based image metrics: BRISQUE (no-reference quality), LPIPS and DreamSim (perceptual distance).

Each scorer loads its model once and scores lists of images in batches. Where real weights are not
available offline the scorer says so (`random_backbone`, `unavailable_reason`) so every row can carry it.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ALEXNET_CHECKPOINT = "alexnet-owt-7be5be79.pth"  # what torchvision downloads for lpips' backbone


class BrisqueScorer:
    """BRISQUE with the SVM model that ships in the `brisque` package (lower = better quality).

    The package's feature scaling breaks with numpy 2 (its features are an object array of arrays);
    flattening them first gives the features it was written for.
    """

    @cached_property
    def _model(self):
        from brisque import BRISQUE

        class _Flattening(BRISQUE):
            def scale_features(self, features):
                flat = np.concatenate([np.ravel(np.asarray(f, dtype=np.float64)) for f in features])
                low = np.asarray(self.scale_params["min_"], dtype=np.float64).ravel()
                high = np.asarray(self.scale_params["max_"], dtype=np.float64).ravel()
                return -1 + 2.0 / (high - low) * (flat - low)

        return _Flattening(url=False)

    def score(self, images: Sequence[Image.Image]) -> list[float]:
        out = []
        for image in images:
            pixels = np.asarray(image.convert("RGB"))
            out.append(float("nan") if pixels.max() == 0 else float(self._model.score(pixels)))
        return out  # an all-black image has no structure to measure: NaN, flagged by the black check


def alexnet_weights_present() -> bool:
    return (Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_CHECKPOINT).is_file()


class LpipsScorer:
    """LPIPS v0.1 with the AlexNet backbone (the lpips package's default and the released data's).

    lpips ships its linear heads; the AlexNet weights come from torchvision's cache. Without them (no
    download offline) the backbone is random and `random_backbone` is True: the distances are then
    not the paper's LPIPS and rows must say so.
    """

    net = "alex"

    def __init__(self, device: str = "cpu", batch_size: int = 16) -> None:
        self.device, self.batch_size = device, batch_size
        self.random_backbone = not alexnet_weights_present()

    @cached_property
    def _model(self):
        import lpips

        torch.manual_seed(0)  # a random backbone must at least be the same random backbone every time
        model = lpips.LPIPS(net=self.net, pretrained=True, pnet_rand=self.random_backbone, verbose=False)
        return model.eval().to(self.device)

    @staticmethod
    def _tensor(image: Image.Image) -> torch.Tensor:
        pixels = torch.from_numpy(np.asarray(image.convert("RGB"), dtype=np.float32).copy())
        return pixels.permute(2, 0, 1) / 127.5 - 1.0  # lpips expects [-1, 1]

    @torch.inference_mode()
    def distance(self, originals: Sequence[Image.Image], edits: Sequence[Image.Image]) -> list[float]:
        """LPIPS per pair; pairs of one size are batched together."""
        out = np.full(len(originals), np.nan)
        by_size: dict[tuple[int, int], list[int]] = {}
        for i, image in enumerate(originals):
            by_size.setdefault(image.size, []).append(i)
        for indices in by_size.values():
            for start in range(0, len(indices), self.batch_size):
                part = indices[start : start + self.batch_size]
                a = torch.stack([self._tensor(originals[i]) for i in part]).to(self.device)
                b = torch.stack([self._tensor(edits[i].resize(originals[i].size, Image.BICUBIC)) for i in part])
                out[part] = self._model(a, b.to(self.device)).flatten().cpu().numpy()
        return out.tolist()


def dreamsim_status() -> str | None:
    """None when DreamSim can run here, else the reason it cannot (the row's `dreamsim_reason`)."""
    try:
        import dreamsim  # noqa: F401
    except ImportError:
        return "dreamsim package not installed (pip install dreamsim; it fetches its weights from a hub)"
    cache = Path(os.environ.get("DREAMSIM_CACHE", Path.home() / ".cache" / "dreamsim"))
    if not any(cache.glob("*")):
        return f"dreamsim weights not found in {cache} (set DREAMSIM_CACHE to a folder holding them)"
    return None


class DreamSimScorer:
    """DreamSim distance (Fu et al. 2023) from the `dreamsim` package and its cached weights."""

    def __init__(self, device: str = "cpu") -> None:
        from dreamsim import dreamsim

        cache = os.environ.get("DREAMSIM_CACHE", str(Path.home() / ".cache" / "dreamsim"))
        self.model, self.preprocess = dreamsim(pretrained=True, device=device, cache_dir=cache)
        self.device = device

    @torch.inference_mode()
    def distance(self, originals: Sequence[Image.Image], edits: Sequence[Image.Image]) -> list[float]:
        return [
            float(self.model(self.preprocess(a).to(self.device), self.preprocess(b.resize(a.size)).to(self.device)))
            for a, b in zip(originals, edits, strict=True)
        ]
