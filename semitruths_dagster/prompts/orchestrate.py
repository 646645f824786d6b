"""Perturb mask labels (inpainting) and captions (prompt-based editing) with validation and retries.

Requests are answered in batches: every pending request gets its attempt N in one backend call, the
answers are validated, and the failed ones go again with a new seed, up to `1 + retries` attempts (the
original pipeline allowed 3). Same inputs and seed => same rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..common import derive_seed
from .backends.base import Captioner, CaptionQuery, CaptionRewriter, LabelPerturber, LabelQuery
from .records import ImageRequest, MaskRequest, PromptRow, request_id
from .taxonomy import MAGNITUDES, check_magnitude
from .templates import EDIT_MODES
from .validation import EMPTY, validate_caption, validate_label

EDIT_MODE_CHOICES = ("random", *EDIT_MODES)


@dataclass
class _Pending:
    """The state of one request across attempts."""

    row: PromptRow
    reasons: list[str] = field(default_factory=list)


def _slots(
    key: str, magnitudes: Sequence[str], per_item: int, sample_magnitude: bool, seed: int
) -> list[tuple[int, str]]:
    """(slot, magnitude) pairs of one mask or image: every magnitude `per_item` times, or `per_item`
    magnitudes drawn at random (the original pipeline drew one per mask)."""
    for m in magnitudes:
        check_magnitude(m)
    if not sample_magnitude:
        return [(i, m) for m in magnitudes for i in range(per_item)]
    rng = random.Random(derive_seed(seed, key, "magnitudes"))
    return [(i, rng.choice(list(magnitudes))) for i in range(per_item)]


def _check_unique(pending: list[_Pending]) -> None:
    """Two identical requests would collide on their id (and waste a model call): refuse them."""
    seen: set[str] = set()
    for item in pending:
        if item.row.request_id in seen:
            raise ValueError(
                f"duplicate request {item.row.request_id} for image '{item.row.image_id}' / mask "
                f"'{item.row.mask_id}': each mask or image may appear only once"
            )
        seen.add(item.row.request_id)


def _run_attempts(
    pending: list[_Pending],
    retries: int,
    base_seed: int,
    ask: Callable[[list[_Pending], int], list[tuple[str, str, str]]],
    validate: Callable[[str, str], list[str]],
) -> None:
    """Attempt every pending request until it validates or runs out of attempts.

    `ask(items, attempt)` returns (raw answer, parsed candidate, template version) per item, after setting
    each row's seed and edit mode for this attempt.
    """
    todo = list(pending)
    for attempt in range(1, retries + 2):
        if not todo:
            break
        for item in todo:
            item.row.seed = derive_seed(base_seed, item.row.request_id, attempt)
            item.row.attempts = attempt
        answers = ask(todo, attempt)
        failed = []
        for item, (raw, candidate, version) in zip(todo, answers, strict=True):
            item.row.raw_output, item.row.perturbed, item.row.template_version = raw, candidate, version
            reasons = validate(candidate, item.row.original)
            item.row.valid = not reasons
            if reasons:
                item.reasons += [f"attempt {attempt}: {r}" for r in reasons]
                failed.append(item)
        todo = failed
    for item in pending:
        item.row.rejection_reasons = list(item.reasons)


def perturb_masks(
    masks: Sequence[MaskRequest],
    backend: LabelPerturber,
    magnitudes: Sequence[str] = MAGNITUDES,
    per_mask: int = 1,
    sample_magnitude: bool = False,
    edit_mode: str = "random",
    seed: int = 0,
    retries: int = 2,
    max_label_words: int = 5,
) -> list[PromptRow]:
    """Perturbed labels for masks (method 'inpainting'), one row per (mask, slot, magnitude).

    edit_mode: 'alter' / 'replace' asks always that; 'random' draws one per attempt from the attempt's seed
    (the original pipeline drew 50/50). The row records the mode asked in its last attempt.
    """
    if edit_mode not in EDIT_MODE_CHOICES:
        raise ValueError(f"edit_mode must be one of {EDIT_MODE_CHOICES}, got '{edit_mode}'")
    pending: list[_Pending] = []
    by_id: dict[str, MaskRequest] = {}
    for mask in masks:
        for slot, magnitude in _slots(mask.mask_id, magnitudes, per_mask, sample_magnitude, seed):
            rid = request_id(
                "inpainting", mask.dataset, mask.image_id, mask.mask_id, mask.label, magnitude, slot
            )
            by_id[rid] = mask
            pending.append(
                _Pending(
                    PromptRow(
                        request_id=rid,
                        dataset=mask.dataset,
                        image_id=mask.image_id,
                        mask_id=mask.mask_id,
                        method="inpainting",
                        original=mask.label,
                        magnitude=magnitude,
                        perturbed=None,
                        edit_mode=edit_mode,
                        backend=backend.info.name,
                        model_ref=backend.info.model_ref,
                        model_revision=backend.info.model_revision,
                        random_weights=backend.info.random_weights,
                        template_version="",
                        seed=0,
                        attempts=0,
                        valid=False,
                        slot=slot,
                        image_path=mask.image_path,
                        mask_path=mask.mask_path,
                    )
                )
            )

    _check_unique(pending)

    def ask(items: list[_Pending], attempt: int) -> list[tuple[str, str, str]]:
        queries = []
        for item in items:
            mode = edit_mode
            if mode == "random":
                mode = random.Random(item.row.seed).choice(EDIT_MODES)
            item.row.edit_mode = mode
            mask = by_id[item.row.request_id]
            queries.append(
                LabelQuery(
                    label=mask.label,
                    magnitude=item.row.magnitude,
                    mode=mode,
                    seed=item.row.seed,
                    image_path=mask.image_path,
                    entities=tuple(mask.entities),
                )
            )
        raws = backend.perturb_labels(queries)
        return [
            (raw, backend.parse_label(raw), backend.template_version(q.mode))
            for raw, q in zip(raws, queries, strict=True)
        ]

    _run_attempts(pending, retries, seed, ask, lambda c, o: validate_label(c, o, max_label_words))
    return [p.row for p in pending]


def caption_images(images: Sequence[ImageRequest], captioner: Captioner) -> list[str]:
    """Captions of the images: a request's own caption when it has one, else the captioner's (batched)."""
    todo = [i for i, im in enumerate(images) if im.caption is None]
    made = captioner.caption_images([images[i].image_path for i in todo], [images[i].entities for i in todo])
    captions = [im.caption or "" for im in images]
    for i, caption in zip(todo, made, strict=True):
        captions[i] = caption
    return captions


def perturb_captions(
    images: Sequence[ImageRequest],
    captioner: Captioner,
    rewriter: CaptionRewriter,
    magnitudes: Sequence[str] = MAGNITUDES,
    per_image: int = 1,
    sample_magnitude: bool = False,
    seed: int = 0,
    retries: int = 2,
    max_caption_words: int = 30,
) -> list[PromptRow]:
    """Rewritten captions for images (method 'p2p'), one row per (image, slot, magnitude).

    An image whose caption comes back empty gets invalid rows with reason 'original: empty' and is not
    sent to the rewriter.
    """
    captions = caption_images(images, captioner)
    caption_model = captioner.info.model_ref or captioner.info.name
    pending: list[_Pending] = []
    by_id: dict[str, ImageRequest] = {}
    for image, caption in zip(images, captions, strict=True):
        for slot, magnitude in _slots(image.image_id, magnitudes, per_image, sample_magnitude, seed):
            rid = request_id("p2p", image.dataset, image.image_id, None, None, magnitude, slot)
            by_id[rid] = image
            pending.append(
                _Pending(
                    PromptRow(
                        request_id=rid,
                        dataset=image.dataset,
                        image_id=image.image_id,
                        mask_id=None,
                        method="p2p",
                        original=caption,
                        magnitude=magnitude,
                        perturbed=None,
                        edit_mode="caption",
                        backend=rewriter.info.name,
                        model_ref=rewriter.info.model_ref,
                        model_revision=rewriter.info.model_revision,
                        random_weights=rewriter.info.random_weights or captioner.info.random_weights,
                        template_version=rewriter.template_version(),
                        seed=0,
                        attempts=0,
                        valid=False,
                        slot=slot,
                        image_path=image.image_path,
                        caption_model=caption_model,
                    )
                )
            )
    _check_unique(pending)
    blank = [p for p in pending if not p.row.original.strip()]
    for item in blank:
        item.row.rejection_reasons = [f"original: {EMPTY}"]
    workable = [p for p in pending if p.row.original.strip()]

    def ask(items: list[_Pending], attempt: int) -> list[tuple[str, str, str]]:
        queries = [
            CaptionQuery(
                it.row.original, it.row.magnitude, it.row.seed, tuple(by_id[it.row.request_id].entities)
            )
            for it in items
        ]
        raws = rewriter.rewrite_captions(queries)
        return [(raw, rewriter.parse_caption(raw), rewriter.template_version()) for raw in raws]

    _run_attempts(workable, retries, seed, ask, lambda c, o: validate_caption(c, o, max_caption_words))
    return [p.row for p in pending]
