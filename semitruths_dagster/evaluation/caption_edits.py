"""The directional edit of a prompt-based (caption) edit: the words that changed, original -> perturbed.

Inpainting edits name their edit directly (mask label -> perturbed label); a caption edit rewrites a whole
sentence, so its direction is the words that differ. difflib aligns the two captions word by word (case
and punctuation ignored) and the changed spans on each side, joined by ' / ', form the pair, e.g.
'a cat on a red sofa' -> 'a dog on a blue sofa' gives ('cat / red', 'dog / blue'). An insertion or a
deletion has '(nothing)' on its empty side; identical captions have no direction (None).
"""

from __future__ import annotations

import re
from difflib import SequenceMatcher

NOTHING = "(nothing)"
_WORD = re.compile(r"[\w'-]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def changed_words(original: str | None, perturbed: str | None) -> tuple[str | None, str | None]:
    """(original side, perturbed side) of the words that changed; (None, None) if nothing did."""
    if not original or not perturbed:
        return None, None
    a, b = _words(original), _words(perturbed)
    removed, added = [], []
    for tag, i1, i2, j1, j2 in SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed.append(" ".join(a[i1:i2]) or NOTHING)
            added.append(" ".join(b[j1:j2]) or NOTHING)
    if not removed:
        return None, None
    return " / ".join(removed), " / ".join(added)
