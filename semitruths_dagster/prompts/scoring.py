"""Similarity columns of prompt rows: sentence similarity (MiniLM), CLIP text similarity, CLIPScore."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from ..models import (
    LoadedModel,
    clip_image_embeddings,
    clip_text_embeddings,
    paired_cosine,
    sentence_embeddings,
)
from .backends.generation import load_rgb
from .filters import clip_score
from .records import PromptRow


def score_rows(
    rows: Sequence[PromptRow],
    sentence: LoadedModel | None = None,
    clip: LoadedModel | None = None,
    batch_size: int = 64,
) -> list[PromptRow]:
    """Copies of the rows with similarity columns filled for rows that have a perturbed text.

    sentence_similarity: cosine of all-MiniLM-L6-v2 embeddings of original vs perturbed text.
    clip_text_similarity: cosine of CLIP text embeddings of original vs perturbed text.
    clip_score: 100 * max(cos, 0) of the image and its original caption (p2p rows only; each image is
    encoded once).
    """
    out = list(rows)
    idx = [i for i, r in enumerate(out) if r.perturbed]
    originals = [out[i].original for i in idx]
    perturbed = [out[i].perturbed or "" for i in idx]
    updates: dict[int, dict[str, float]] = {i: {} for i in idx}
    if sentence is not None and idx:
        sims = paired_cosine(
            sentence_embeddings(sentence, originals, batch_size),
            sentence_embeddings(sentence, perturbed, batch_size),
        )
        for i, s in zip(idx, sims, strict=True):
            updates[i]["sentence_similarity"] = s
    if clip is not None and idx:
        sims = paired_cosine(
            clip_text_embeddings(clip, originals, batch_size),
            clip_text_embeddings(clip, perturbed, batch_size),
        )
        for i, s in zip(idx, sims, strict=True):
            updates[i]["clip_text_similarity"] = s
        _add_clip_scores(out, clip, updates)
    for i, values in updates.items():
        out[i] = replace(out[i], **values)
    return out


def _add_clip_scores(
    rows: list[PromptRow], clip: LoadedModel, updates: dict[int, dict[str, float]], chunk: int = 256
) -> None:
    """CLIPScore of each distinct (image, original caption) of the p2p rows."""
    pairs = sorted(
        {(r.image_path, r.original) for r in rows if r.method == "p2p" and r.image_path and r.original}
    )
    if not pairs:
        return
    scores: dict[tuple[str, str], float] = {}
    for start in range(0, len(pairs), chunk):  # load images a chunk at a time, not a dataset at once
        part = pairs[start : start + chunk]
        images = clip_image_embeddings(clip, [load_rgb(p) for p, _ in part])
        texts = clip_text_embeddings(clip, [c for _, c in part])
        scores.update(
            {pair: clip_score(c) for pair, c in zip(part, paired_cosine(images, texts), strict=True)}
        )
    for i, row in enumerate(rows):
        key = (row.image_path, row.original)
        if key in scores:
            updates.setdefault(i, {})["clip_score"] = scores[key]
