"""Shared pieces of the model backends: generation settings, seeding, image loading, decoding."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image


@dataclass(frozen=True)
class GenerationParams:
    """Settings of `model.generate`. Sampling with a seed is reproducible on the same hardware and batch."""

    max_new_tokens: int = 40
    do_sample: bool = True
    temperature: float = 0.5
    top_p: float = 0.5
    num_beams: int = 1
    batch_size: int = 8

    def generate_kwargs(self) -> dict[str, Any]:
        kwargs = asdict(self)
        kwargs.pop("batch_size")
        if not self.do_sample:  # transformers warns about sampling settings without sampling
            kwargs.pop("temperature")
            kwargs.pop("top_p")
        return kwargs


def batch_seed(seeds: Sequence[int]) -> int:
    """One seed for a batch, from the seeds of its requests: a batch sampled twice samples the same."""
    digest = hashlib.sha256(",".join(map(str, seeds)).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch (CPU and the model's GPU) for one generate call, restoring the global RNG after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def load_rgb(path: str | None) -> Image.Image:
    """An image as RGB; the VLM and the captioner need the picture itself."""
    if not path:
        raise ValueError("this backend needs the image: the request has no image path")
    with Image.open(Path(path)) as im:
        return im.convert("RGB")


def batches(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]


def to_device(inputs: Any, device: torch.device, dtype: torch.dtype) -> Any:
    """Move processor outputs to the model; floating tensors (pixels) take the model's dtype."""
    return inputs.to(device) if dtype == torch.float32 else inputs.to(device).to(dtype)


def decode_new_tokens(tokenizer: Any, output: torch.Tensor, prompt_length: int) -> list[str]:
    """The generated continuation only (decoder-only models echo the prompt first)."""
    return [t.strip() for t in tokenizer.batch_decode(output[:, prompt_length:], skip_special_tokens=True)]
