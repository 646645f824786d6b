"""A rule-based perturber: the taxonomy applied with fixed vocabularies, deterministic given a seed.

It needs no model, so it runs anywhere (CI, laptops), and its edits are readable and valid. It answers in
the forms the VLM is asked for: 'adjective X' / 'X with Y' when altering, an object of similar size and
shape when replacing; and it rewrites captions by editing one object they mention (or the scene).
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from ..templates import clean_label
from ..validation import MAX_LABEL_WORDS
from ..vocab import (
    COLOURS,
    EMOTIONS,
    EXPRESSIVE_PARTS,
    LIGHTING,
    Category,
    categorize,
    known_words,
    label_words,
)
from .base import BackendInfo, CaptionQuery, CaptionRewriter, LabelPerturber, LabelQuery

RULES_VERSION = "1"
# Scene-wide edits for captions that name no known object.
SCENE_EDITS = {
    "small": ("in soft morning light", "at dusk", "on a slightly overcast day", "in warm evening light"),
    "medium": ("on a rainy day", "under a stormy sky", "covered in fresh snow", "in thick fog"),
    "large": (
        "in a flooded street",
        "during a fire at night",
        "on the surface of the moon",
        "in a post apocalyptic ruin",
    ),
}


def _pick(rng: random.Random, options: Sequence[str], avoid: str) -> str | None:
    """A random option that does not already occur in the text being edited."""
    fresh = [o for o in options if o.lower() not in avoid.lower()]
    return rng.choice(fresh) if fresh else None


def _alter(label: str, cat: Category, magnitude: str, rng: random.Random) -> str:
    """'adjective label' or 'label with detail' at the magnitude of the taxonomy."""
    if magnitude == "small":
        kinds = ["detail", "lighting"] + (["colour"] * 2 if cat.colourable else [])
    elif magnitude == "medium":
        emotional = cat.emotional or bool(EXPRESSIVE_PARTS & set(label_words(label)))
        kinds = ["attribute"] + (["pose"] if cat.poses else []) + (["emotion"] * 2 if emotional else [])
    else:
        kinds = ["dramatic"]
    kind = rng.choice(kinds)
    if kind == "detail":
        # 'X with Y' must stay within the label word limit (5): only details short enough for this label.
        room = MAX_LABEL_WORDS - len(label.split()) - 1
        detail = _pick(rng, [d for d in cat.details if len(d.split()) <= room], label)
        return f"{label} with {detail}" if detail else f"{rng.choice(LIGHTING)} {label}"
    if kind == "pose":
        return f"{label} {_pick(rng, cat.poses, label) or cat.poses[0]}"
    pool = {
        "colour": COLOURS,
        "lighting": LIGHTING,
        "attribute": cat.attributes,
        "emotion": EMOTIONS,
        "dramatic": cat.dramatic,
    }[kind]
    word = _pick(rng, pool, label) or pool[0]
    return f"{word} {label}"


def _replace(label: str, cat: Category, magnitude: str, rng: random.Random) -> str | None:
    """An object of similar size and shape: near alike (small), same kind (medium), other kind (large)."""
    pool = {"small": cat.similar, "medium": cat.kindred, "large": cat.distant}[magnitude]
    return _pick(rng, [p for p in pool if p.lower() != label.lower()], label)


def perturb_label(label: str, magnitude: str, mode: str, seed: int) -> str:
    """One rule-based edit of a mask label. Replacing falls back to altering for categories with nothing
    to replace with (parts of a face are edited, never swapped)."""
    rng = random.Random(f"{seed}:{label}:{magnitude}:{mode}")
    text = clean_label(label).lower()
    cat = categorize(text)
    if mode == "replace":
        out = _replace(text, cat, magnitude, rng)
        if out:
            return out
    return _alter(text, cat, magnitude, rng)


_ARTICLE = re.compile(r"\b(a|an)(\s+)$", re.IGNORECASE)
_DETERMINER = re.compile(
    r"\b(?:a|an|the|his|her|their|its|my|your|our|this|that|some|one|two)\s+(?:\w+\s+)?$", re.I
)


def _fix_article(before: str, phrase: str) -> str:
    """'a' / 'an' before the edited phrase agrees with its first sound (by its first letter)."""
    match = _ARTICLE.search(before)
    if not match:
        return before
    article = "an" if phrase[:1].lower() in "aeiou" else "a"
    if match.group(1)[0].isupper():
        article = article.capitalize()
    return before[: match.start()] + article + match.group(2)


def _mentions(caption: str, entities: Sequence[str]) -> list[tuple[int, int, str]]:
    """Spans of the caption that name an entity of the image or a word the vocabulary knows."""
    vocab = known_words() | {w for e in entities for w in label_words(clean_label(e))}
    spans = []
    for m in re.finditer(r"[A-Za-z]+", caption):
        word = m.group(0).lower()
        if word in vocab or word.rstrip("s") in vocab:
            spans.append((m.start(), m.end(), m.group(0)))
    return spans


def rewrite_caption(caption: str, magnitude: str, seed: int, entities: Sequence[str] = ()) -> str:
    """One rule-based rewrite of a caption: edit one object it mentions, or the whole scene."""
    rng = random.Random(f"{seed}:{caption}:{magnitude}")
    spans = _mentions(caption, entities)
    body = caption.strip().rstrip(".")
    if not spans or rng.random() < 0.25:
        phrase = _pick(rng, SCENE_EDITS[magnitude], body) or SCENE_EDITS[magnitude][0]
        return f"{body} {phrase}"
    start, end, word = rng.choice(spans)
    mode = "replace" if magnitude == "large" or rng.random() < 0.3 else "alter"
    edited = perturb_label(word, magnitude, mode, rng.randrange(2**31))
    before = body[:start]
    if mode == "replace" and not _DETERMINER.search(before):
        # A mass or plural noun ('grass', 'plants') replaced by one object needs an article.
        before += "an " if edited[:1] in "aeiou" else "a "
    return _fix_article(before, edited) + edited + body[end:]


class RuleBasedPerturber(LabelPerturber, CaptionRewriter):
    """Label perturber and caption rewriter from vocabularies (no model; `random_weights` is False)."""

    def __init__(self) -> None:
        self.info = BackendInfo(name="rules", model_ref=None, model_revision=None, random_weights=False)

    def template_version(self, mode: str = "caption") -> str:
        return f"rules_{mode}@{RULES_VERSION}"

    def perturb_labels(self, queries: Sequence[LabelQuery]) -> list[str]:
        return [perturb_label(q.label, q.magnitude, q.mode, q.seed) for q in queries]

    def parse_label(self, raw: str) -> str:
        return raw.strip()

    def rewrite_captions(self, queries: Sequence[CaptionQuery]) -> list[str]:
        return [rewrite_caption(q.caption, q.magnitude, q.seed, q.entities) for q in queries]

    def parse_caption(self, raw: str) -> str:
        return raw.strip()
