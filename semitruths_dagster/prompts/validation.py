"""Validation of perturbed labels and captions (paper B.1 and SPEC 3), one reason code per failed rule.

A candidate can fail several rules at once; every failed rule is reported, so a row's rejection
reasons say exactly why each attempt was thrown away.
"""

from __future__ import annotations

import re

MAX_LABEL_WORDS = 5
MAX_CAPTION_WORDS = 30

# Reason codes (stable strings: they are stored in rows and counted in reports).
EMPTY = "empty"
LABEL_TOO_LONG = "label_over_5_words"
CAPTION_TOO_LONG = "caption_over_30_words"
SPECIAL_CHARACTERS = "special_characters"
SAME_AS_INPUT = "same_as_input"
EXPLANATION = "explanation_not_answer"

# Letters, digits, spaces and the punctuation of ordinary English text. Everything else (':', '/', '#',
# '(', '*', emoji, newlines, ...) is a special character (diffusion prompts respond badly to them, B.1).
_LABEL_OK = re.compile(r"^[A-Za-z0-9 '\-]+$")
_CAPTION_OK = re.compile(r"^[A-Za-z0-9 '\-,.]+$")
# How answers start when the model talks about the task instead of answering it.
_PREAMBLE = re.compile(
    r"^(?:i'?m sorry|i am sorry|sorry|as an ai|as a language model|here is|here's|here are|sure|certainly|"
    r"of course|i (?:cannot|can't|can not|would|suggest|recommend|think)|you (?:could|can|should|might)|"
    r"to (?:produce|create|make|achieve|get)|one (?:possible|option|way)|the (?:answer|recommended|change)|"
    r"answer|replace|replacing|change|changing|alter|altering|add|adding|remove|removing)\b",
    re.IGNORECASE,
)
# Words that mark a clause or an explanation rather than a noun phrase (labels only).
_LABEL_CLAUSE = re.compile(r"\b(?:is|are|was|were|would|could|should|because|which|that|this|it)\b", re.I)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


def _common_checks(text: str, original: str) -> list[str]:
    reasons = []
    if _PREAMBLE.match(text) or _multiple_sentences(text):
        reasons.append(EXPLANATION)
    if _norm(text) == _norm(original) or _norm(text).rstrip(".") == _norm(original).rstrip("."):
        reasons.append(SAME_AS_INPUT)
    return reasons


def _multiple_sentences(text: str) -> bool:
    return bool(re.search(r"[.!?]\s+[A-Z]", text))


def validate_label(text: str, original: str, max_words: int = MAX_LABEL_WORDS) -> list[str]:
    """Reasons a perturbed mask label is unusable (empty list: valid)."""
    if not text or not text.strip():
        return [EMPTY]
    reasons = []
    if len(text.split()) > max_words:
        reasons.append(LABEL_TOO_LONG)
    if not _LABEL_OK.match(text):
        reasons.append(SPECIAL_CHARACTERS)
    reasons += _common_checks(text, original)
    if EXPLANATION not in reasons and _LABEL_CLAUSE.search(text):
        reasons.append(EXPLANATION)
    return reasons


def validate_caption(text: str, original: str, max_words: int = MAX_CAPTION_WORDS) -> list[str]:
    """Reasons a perturbed caption is unusable (empty list: valid)."""
    if not text or not text.strip():
        return [EMPTY]
    reasons = []
    if len(text.split()) > max_words:
        reasons.append(CAPTION_TOO_LONG)
    if not _CAPTION_OK.match(text):
        reasons.append(SPECIAL_CHARACTERS)
    return reasons + _common_checks(text, original)
