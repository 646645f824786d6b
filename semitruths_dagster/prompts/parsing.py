"""Turn a model's raw answer into the candidate label or caption that validation then judges.

Parsing only removes wrapping the model adds around an answer (a "Answer:" prefix, quotes, list markers,
a final full stop, BLIP's "arafed" artefact); it never rewrites content, so a bad answer stays bad and is
rejected with its reason.
"""

from __future__ import annotations

import re

_QUOTES = "\"'`\u201c\u201d\u2018\u2019*"
_LIST_MARKER = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)]|\(\d+\))\s+")
# BLIP-large's known artefact tokens ("arafed", "araffe", ...) that stand for nothing in the image.
_BLIP_ARTEFACT = re.compile(r"\b(?:araf\w*|arafed)\b\s*", re.IGNORECASE)


def _strip_wrapping(text: str) -> str:
    text = _LIST_MARKER.sub("", text.strip())
    text = text.strip().strip(_QUOTES).strip()
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1].rstrip()
    return text.strip(_QUOTES).strip()


def _first_line(text: str) -> str:
    for line in text.strip().splitlines():
        if line.strip():
            return line
    return ""


def parse_label_answer(raw: str) -> str:
    """The perturbed label in a VLM answer.

    Keeps what follows the first ':' (the original pipeline did the same: answers such as
    'Perturbation: red car'), then the first non-empty line, without quotes or a final full stop.
    """
    text = raw.strip()
    if ":" in text:
        text = text[text.find(":") + 1 :]
    return _strip_wrapping(_first_line(text))


def parse_caption_answer(raw: str) -> str:
    """The rewritten caption in an LM answer: text after a 'Rewritten caption:' / 'Caption:' marker when
    the model repeats it, first non-empty line, no list marker or quotes. A final full stop stays (a
    caption is a sentence)."""
    text = raw.strip()
    match = re.search(r"(?:rewritten caption|caption)\s*:\s*", text, re.IGNORECASE)
    if match:
        text = text[match.end() :]
    line = _LIST_MARKER.sub("", _first_line(text).strip())
    return line.strip().strip(_QUOTES).strip()


def parse_blip_caption(raw: str) -> str:
    """A BLIP caption without its artefact words and doubled spaces."""
    text = _BLIP_ARTEFACT.sub("", raw.strip())
    return re.sub(r"\s+", " ", text).strip()
