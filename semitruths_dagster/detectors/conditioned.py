"""Scoring under post-processing conditions, with the score cache keyed by condition.

The cache key of a (detector, image, condition) triple is the clean key's parts plus the condition's
canonical signature (the clean key itself is unchanged, so scores cached before conditions existed
stay valid). Adding a condition or a detector therefore scores only the missing triples. An image
that fails under a condition (a codec error, an empty image) is reported, not raised: the caller
quarantines it and the other images and conditions go on.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ..conditions import Condition, ConditionFailed
from ..storage import ImageStore
from .base import Detector
from .cache import prediction_cache_key
from .preprocessing import CropBox


class Scorable(Protocol):
    image_path: str
    sha256: str
    box: CropBox | None


@dataclass
class ConditionedScore:
    """One (image, condition) outcome: a score, or the reason it failed."""

    index: int  # into the targets
    condition: Condition
    cache_key: str
    score: float | None
    fresh: bool  # scored in this call (False: from the cache)
    box: CropBox | None
    error: str | None = None
    # the quarantine rule of `error`: or 'detector_failed' (the detector's own), or one of the plugin's
    # QUARANTINE_RULES (CrossEfficientViT's 'no_face')
    rule: str = "condition_failed"
    seconds: float = 0.0  # this item's share of its batch's time in the detector (0: not scored here)


def condition_cache_key(detector: Detector, image_sha256: str, box: CropBox | None, condition: Condition) -> str:
    if condition.is_clean:
        return detector.cache_key(image_sha256, box)
    signature = f"{detector.score_signature(box)}|condition={condition.signature}"
    return prediction_cache_key(detector.name, detector.version, image_sha256, signature)


def score_conditions(detector: Detector, targets: Sequence[Scorable], store: ImageStore,
                     conditions: Sequence[Condition], cached: dict[str, float], batch_size: int,
                     seed: int) -> list[ConditionedScore]:
    """Every (target, condition) outcome, condition by condition; only keys missing from `cached` are
    scored. A condition that changes the image's size drops the mask-aware crop box (its frame no
    longer matches); the box used is part of the key and of the outcome."""
    out: list[ConditionedScore] = []
    for condition in conditions:
        todo: list[ConditionedScore] = []
        twins: dict[str, list[ConditionedScore]] = {}  # same bytes, box and condition: scored once
        for i, t in enumerate(targets):
            key = condition_cache_key(detector, t.sha256, t.box, condition)
            item = ConditionedScore(i, condition, key, cached.get(key), key not in cached, t.box)
            out.append(item)
            if item.fresh:
                if key not in twins:
                    todo.append(item)
                twins.setdefault(key, []).append(item)
        for start in range(0, len(todo), batch_size):
            part, images = [], []
            for item in todo[start : start + batch_size]:
                target = targets[item.index]
                try:
                    with store.open(target.image_path) as opened:
                        original = opened.convert("RGB")
                    image = condition.apply(original, seed, target.sha256)
                except (ConditionFailed, OSError, ValueError) as exc:
                    item.error = str(exc) if isinstance(exc, ConditionFailed) else \
                        f"condition {condition.name!r}: cannot read {target.image_path}: {exc}"
                    continue
                if image.size != original.size:
                    item.box = None
                part.append(item)
                images.append(image)
            if not part:
                continue
            started = time.perf_counter()
            values, failed = detector.score_each(images, boxes=[p.box for p in part], batch_size=batch_size)
            share = (time.perf_counter() - started) / len(part)
            for j, (item, value) in enumerate(zip(part, values, strict=True)):
                item.score, item.seconds = float(value), share
                if j in failed:
                    rule = failed[j].split(":", 1)[0]
                    rule = rule if rule in detector.QUARANTINE_RULES else "detector_failed"
                    item.score, item.error, item.rule = None, failed[j], rule
        for first, *rest in twins.values():
            for twin in rest:
                twin.score, twin.box, twin.error, twin.rule = first.score, first.box, first.error, first.rule
    return out
