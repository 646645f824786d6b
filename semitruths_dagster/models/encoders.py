"""Embedding helpers over loaded models: CLIP images and texts (open_clip), and sentences (MiniLM).

All embeddings come back L2-normalised as float32 CPU tensors, so a cosine is a dot product, except
`hf_clip_features` (the saliency role), which keeps the original code's unnormalized features.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from PIL import Image

from .handle import LoadedModel


def _batches(items: Sequence, size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


@torch.inference_mode()
def clip_text_embeddings(clip: LoadedModel, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """CLIP text embeddings (rows L2-normalised); texts past CLIP's 77 tokens are truncated by the tokenizer."""
    tokenizer = clip.processor["tokenizer"]
    chunks = [
        clip.model.encode_text(tokenizer(list(batch)).to(clip.device)).float()
        for batch in _batches(list(texts), batch_size)
    ]
    out = torch.cat(chunks) if chunks else torch.zeros(0, 0)
    return torch.nn.functional.normalize(out, dim=-1).cpu()


@torch.inference_mode()
def clip_image_embeddings(
    clip: LoadedModel, images: Sequence[Image.Image], batch_size: int = 32
) -> torch.Tensor:
    """CLIP image embeddings (rows L2-normalised) with the model's own preprocessing."""
    preprocess = clip.processor["preprocess"]
    chunks = []
    for batch in _batches(list(images), batch_size):
        pixels = torch.stack([preprocess(im.convert("RGB")) for im in batch]).to(clip.device, clip.dtype)
        chunks.append(clip.model.encode_image(pixels).float())
    out = torch.cat(chunks) if chunks else torch.zeros(0, 0)
    return torch.nn.functional.normalize(out, dim=-1).cpu()


@torch.inference_mode()
def hf_clip_features(
    clip: LoadedModel, images: Sequence[Image.Image], texts: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """(image features, text features) of a transformers CLIPModel, UNNORMALIZED, as the original quality
    check computed them (`get_image_features` / `get_text_features`; texts padded, truncated at 77)."""
    processor = clip.processor
    pixels = processor(images=[im.convert("RGB") for im in images], return_tensors="pt")["pixel_values"]
    image = clip.model.get_image_features(pixel_values=pixels.to(clip.device, clip.dtype))
    tokens = processor.tokenizer(list(texts), padding=True, truncation=True, max_length=77, return_tensors="pt")
    text = clip.model.get_text_features(**tokens.to(clip.device))
    return _features(image).float().cpu(), _features(text).float().cpu()


def _features(out) -> torch.Tensor:
    """The projected embedding, whether transformers returns a tensor or an output object."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


@torch.inference_mode()
def sentence_embeddings(encoder: LoadedModel, texts: Sequence[str], batch_size: int = 64) -> torch.Tensor:
    """Sentence embeddings as sentence-transformers makes them for all-MiniLM-L6-v2.

    Mean of the last hidden states over real (non-padding) tokens, then L2 normalisation; inputs truncated
    at 256 tokens (the model's max_seq_length in its sentence_bert_config.json).
    """
    chunks = []
    for batch in _batches(list(texts), batch_size):
        enc = encoder.processor(
            list(batch), padding=True, truncation=True, max_length=256, return_tensors="pt"
        ).to(encoder.device)
        hidden = encoder.model(**enc).last_hidden_state.float()
        mask = enc["attention_mask"].unsqueeze(-1).float()
        chunks.append((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9))
    out = torch.cat(chunks) if chunks else torch.zeros(0, 0)
    return torch.nn.functional.normalize(out, dim=-1).cpu()


def paired_cosine(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Row-wise cosine of two equally long batches of normalised embeddings."""
    if len(a) != len(b):
        raise ValueError(f"paired_cosine needs equal lengths, got {len(a)} and {len(b)}")
    return (a * b).sum(-1).tolist() if len(a) else []
