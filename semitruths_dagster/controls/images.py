"""Confound controls: images that separate "the edit" from "the pipeline that made it" (each kind's
registration, with the `resampled` control's, is in `kinds.CONTROLS`).

- `vae_roundtrip`: a real image encoded and decoded by a generator's VAE, no edit at all (what a
  detector flags for "touched by the pipeline" alone);
- `pasted_back`: an inpainting edit with the original pixels restored outside the soft mask
  (exactly the original where the mask is 0), so only the edited region differs;
- `format_matched`: an edit saved in its original's format and quality (the JPEG quality estimated
  from the original's quantization tables), so file format says nothing about the label.
No diffusion sampling: the costliest is one VAE encode + decode.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import numpy as np
from PIL import Image, JpegImagePlugin


@lru_cache(maxsize=1)
def _libjpeg_tables() -> dict[int, dict[int, np.ndarray]]:
    """The quantization tables this libjpeg writes at each quality 1-100 (read back from real encodes)."""
    gray = Image.new("RGB", (16, 16), (128, 128, 128))
    tables = {}
    for quality in range(1, 101):
        buffer = io.BytesIO()
        gray.save(buffer, format="JPEG", quality=quality)
        with Image.open(io.BytesIO(buffer.getvalue())) as decoded:
            tables[quality] = {k: np.asarray(v, dtype=np.int64) for k, v in decoded.quantization.items()}
    return tables


def estimate_jpeg_quality(image: Image.Image) -> int | None:
    """The IJG quality (1-100) whose tables are nearest the image's (None for a non-JPEG image)."""
    quantization = getattr(image, "quantization", None)
    if image.format != "JPEG" or not quantization:
        return None
    ours = {k: np.asarray(v, dtype=np.int64) for k, v in quantization.items()}

    def distance(quality: int) -> float:
        reference = _libjpeg_tables()[quality]
        shared = [k for k in ours if k in reference and ours[k].size == reference[k].size]
        return float(sum(np.abs(ours[k] - reference[k]).sum() for k in shared)) if shared else float("inf")

    return min(range(1, 101), key=distance)


def format_matched(edited: Image.Image, original: Image.Image) -> tuple[bytes, dict[str, Any]]:
    """The edit's bytes in its original's format: JPEG at the original's estimated quality and chroma
    subsampling, PNG as PNG, any other format as itself. Returns (bytes, provenance)."""
    fmt = original.format or "PNG"
    buffer = io.BytesIO()
    provenance: dict[str, Any] = {"format": fmt, "quality": None, "subsampling": None}
    rgb = edited.convert("RGB")
    if fmt == "JPEG":
        quality = estimate_jpeg_quality(original)
        subsampling = JpegImagePlugin.get_sampling(original)
        options = {"quality": quality} | ({"subsampling": subsampling} if subsampling >= 0 else {})
        rgb.save(buffer, format="JPEG", **options)
        provenance |= {"quality": quality, "subsampling": subsampling}
    else:
        rgb.save(buffer, format=fmt)
    return buffer.getvalue(), provenance


def paste_back(original: Image.Image, edited: Image.Image, soft_mask: Image.Image) -> Image.Image:
    """The edit inside the soft mask, the original outside: out = m * edit + (1 - m) * original, m in
    [0, 1] from the mask's grey levels, so where m is 0 the output is the original's pixels exactly.
    An edit of another size (pipelines work at multiples of 8) is resized to the original's first."""
    original = original.convert("RGB")
    if edited.size != original.size:
        edited = edited.convert("RGB").resize(original.size, Image.Resampling.BICUBIC)
    if soft_mask.size != original.size:
        soft_mask = soft_mask.resize(original.size, Image.Resampling.BILINEAR)
    m = np.asarray(soft_mask.convert("L"), dtype=np.float64)[..., None] / 255.0
    out = m * np.asarray(edited.convert("RGB"), dtype=np.float64) + (1.0 - m) * np.asarray(original, dtype=np.float64)
    return Image.fromarray(np.clip(np.rint(out), 0, 255).astype(np.uint8))


def vae_roundtrip(vae: Any, image: Image.Image) -> Image.Image:
    """The image encoded and decoded by a diffusers autoencoder (AutoencoderKL: the posterior's mode;
    VQModel, Kandinsky's MoVQ: its latents, quantized by decode). Reflect-padded to a multiple of 8
    and cropped back, so the output has the input's size."""
    import torch

    rgb = np.asarray(image.convert("RGB"), dtype=np.float32)
    h, w = rgb.shape[:2]
    x = torch.from_numpy(rgb / 127.5 - 1.0).permute(2, 0, 1)[None]
    pad_h, pad_w = (-h) % 8, (-w) % 8
    if pad_h or pad_w:
        x = torch.nn.functional.pad(x, (0, pad_w, 0, pad_h), mode="reflect")
    param = next(vae.parameters())
    with torch.no_grad():
        encoded = vae.encode(x.to(param.device, param.dtype))
        latents = encoded.latent_dist.mode() if hasattr(encoded, "latent_dist") else encoded.latents
        decoded = vae.decode(latents).sample.float().cpu()[0, :, :h, :w]
    pixels = ((decoded.clamp(-1, 1) + 1.0) * 127.5).round().permute(1, 2, 0).numpy().astype(np.uint8)
    return Image.fromarray(pixels)
