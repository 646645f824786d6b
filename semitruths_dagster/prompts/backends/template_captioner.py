"""A captioner without a model: 'a photo of a cat, a wall and a sofa' from the image's entity classes."""

from __future__ import annotations

from collections.abc import Sequence

from ..templates import clean_label
from .base import BackendInfo, Captioner

TEMPLATE_CAPTIONER_VERSION = "template_caption@1"
# Dataset classes that name no visible thing (CityScapes' void classes, LIP's and CelebA's background).
NON_CONTENT = {
    "out of roi",
    "rectification border",
    "ego vehicle",
    "static",
    "dynamic",
    "ground",
    "unlabeled",
    "background",
    "r",
    "void",
    "license plate",
    "other",
}
_MASS_NOUNS = {
    "sky",
    "grass",
    "vegetation",
    "water",
    "sand",
    "snow",
    "hair",
    "skin",
    "terrain",
    "floor",
    "ceiling",
    "furniture",
    "clothes",
    "food",
    "traffic",
    "earth",
    "dirt",
    "pavement",
}


def _noun_phrase(label: str) -> str:
    text = clean_label(label).lower().replace("-", " ")
    if text in _MASS_NOUNS or text.endswith("s") and not text.endswith("ss"):
        return f"the {text}" if text in {"sky", "floor", "ceiling"} else text
    return f"{'an' if text[:1] in 'aeiou' else 'a'} {text}"


def template_caption(entities: Sequence[str], max_entities: int = 4) -> str:
    """A caption listing up to `max_entities` content classes in their given order (duplicates and
    void classes dropped); 'a photo' when nothing is left."""
    seen: list[str] = []
    for entity in entities:
        key = clean_label(entity).lower().replace("-", " ")
        if key and key not in NON_CONTENT and key not in seen:
            seen.append(key)
    phrases = [_noun_phrase(e) for e in seen[:max_entities]]
    if not phrases:
        return "a photo"
    listed = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " and " + phrases[-1]
    return f"a photo of {listed}"


class TemplateCaptioner(Captioner):
    """Captioner from entity lists (no model, deterministic)."""

    template_version = TEMPLATE_CAPTIONER_VERSION

    def __init__(self, max_entities: int = 4) -> None:
        self.max_entities = max_entities
        self.info = BackendInfo(name="template_captioner")

    def caption_images(
        self, image_paths: Sequence[str | None], entities: Sequence[Sequence[str]]
    ) -> list[str]:
        return [template_caption(ents, self.max_entities) for ents in entities]
