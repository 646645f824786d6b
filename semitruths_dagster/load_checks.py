"""Loading that fails when a model library says the built model differs from its weights.

Model libraries only warn when the architecture they built does not match the checkpoint: open_clip builds
exact GELU for OpenAI's QuickGELU weights ("QuickGELU mismatch"), transformers prints a "LOAD REPORT" of
missing / unexpected / resized keys, diffusers "were not used" / "newly initialized", timm and open_clip
"missing keys" or "initialized randomly". Every one of these changes the features silently, so in this
project it is an error (`WeightMismatchError`) naming the model and the fix. `strict_loading` wraps each
loader's call; warnings that are not about the weights pass through unchanged (console.py filters the
known harmless ones). `open_clip_kwargs` decides QuickGELU from the pretrained tag's own flag.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .hub import open_clip_name

# Messages that mean "the built model is not the model the weights were trained as" (matched anywhere in a
# warning or log record, case-insensitive). Deliberately specific: a deprecation notice about an argument
# named `torch_dtype`, a progress bar or a config note is not a mismatch.
MISMATCH_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"QuickGELU mismatch", "the activation differs from the one the weights were trained with"),
    (r"LOAD REPORT", "keys are missing, unexpected or resized (transformers' load report)"),
    (r"were not used when initializing", "the checkpoint holds weights the model does not use"),
    (r"were not initialized from the model checkpoint|newly initialized", "some weights stay random"),
    (r"\b(missing|unexpected) keys?\b", "keys are missing or unexpected"),
    (r"size mismatch|shapes did not match", "weights have other shapes than the model"),
    (r"initialized randomly|initialized partially|no CLIP weights found", "no (or only some) weights loaded"),
    (r"could not find/download default weights", "the weights file was not found"),
)
_MISMATCH = re.compile("|".join(f"(?:{p})" for p, _ in MISMATCH_PATTERNS), re.IGNORECASE)
# The loggers the model libraries write to: open_clip and timm use the root logger (or children of it);
# transformers and diffusers stop propagation at their own root logger.
_LOGGERS = ("", "transformers", "diffusers")
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # transformers colours its load report


class WeightMismatchError(RuntimeError):
    """A model library reported that the model it built differs from the weights it loaded."""


def mismatch_reason(message: str) -> str | None:
    """Why `message` is a weights/architecture mismatch, or None when it is not one."""
    for pattern, why in MISMATCH_PATTERNS:
        if re.search(pattern, message, re.IGNORECASE):
            return why
    return None


class _Collect(logging.Handler):
    """Keeps mismatch messages; a record no other handler would have seen goes to logging's last resort,
    as it would have without this handler (so adding it never silences a warning)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if _MISMATCH.search(message):
            self.messages.append(message)
        elif (last := logging.lastResort) is not None and record.levelno >= last.level \
                and not self._others_handle(record.name):
            last.handle(record)

    def _others_handle(self, name: str) -> bool:
        logger: logging.Logger | None = logging.getLogger(name)
        while logger is not None:
            if any(h is not self for h in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False


@contextmanager
def strict_loading(what: str, fix: str) -> Iterator[None]:
    """Run a model load; a library warning that the model differs from its weights raises at the end.

    what: the model as messages name it ("model for role 'clip'", "detector 'ufd' weight 'backbone'");
    fix: what the user changes to fix it. Other warnings are re-issued as they were. (Python's warning
    filters are process-wide: a warning another thread issues inside the block is re-issued too.)
    """
    handler = _Collect()
    loggers = [logging.getLogger(name) for name in _LOGGERS]
    for logger in loggers:
        logger.addHandler(handler)
    found: list[str] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                yield
            finally:
                for logger in loggers:
                    logger.removeHandler(handler)
        found = list(handler.messages) + [str(w.message) for w in caught if _MISMATCH.search(str(w.message))]
    finally:  # the other warnings go back to the caller's filters (console.py), even when loading failed
        for w in caught:
            if not _MISMATCH.search(str(w.message)):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno, source=w.source)
    if found:
        first = _ANSI.sub("", found[0]).strip()
        more = f" (and {len(found) - 1} more such message(s))" if len(found) > 1 else ""
        raise WeightMismatchError(
            f"{what}: the model built differs from its weights ({mismatch_reason(first)}): {first[:600]}{more}. "
            f"Fix: {fix}"
        )


def open_clip_kwargs(name: str, pretrained: str | None) -> dict[str, Any]:
    """open_clip `create_model` arguments that build the architecture a pretrained tag was trained as.

    The tag's own `quick_gelu` flag decides (OpenAI's weights: True), never the architecture's name:
    open_clip's `ViT-L-14` config says GELU, and open_clip 3.x only warns when the tag says QuickGELU.
    Local folders and `hf-hub:` repos carry the flag in their own open_clip_config.json.
    """
    if not pretrained:
        return {}
    import open_clip

    cfg = open_clip.get_pretrained_cfg(name.replace("/", "-"), pretrained)
    return {"force_quick_gelu": True} if cfg.get("quick_gelu") else {}


def check_open_clip_folder(folder: str | os.PathLike, stands_for: str | None, what: str) -> None:
    """A local open_clip folder standing for a QuickGELU-tagged CLIP (`open_clip:ViT-L-14/openai`) must say
    `"quick_gelu": true` in its open_clip_config.json; otherwise open_clip builds exact GELU without a word
    (older copies of OpenAI's weights on the hub ship such a config)."""
    if not stands_for or not stands_for.startswith("open_clip:"):
        return
    name, tag = open_clip_name(stands_for, True)
    if not open_clip_kwargs(name, tag).get("force_quick_gelu"):
        return
    config = Path(folder) / "open_clip_config.json"
    cfg = json.loads(config.read_text()).get("model_cfg", {}) if config.is_file() else {}
    if cfg and not cfg.get("quick_gelu"):
        raise WeightMismatchError(
            f"{what}: {config} stands for '{stands_for}', whose weights were trained with QuickGELU, but its "
            f"model_cfg does not set \"quick_gelu\": true, so open_clip would build exact GELU. Fix: {OPEN_CLIP_FIX}"
        )


OPEN_CLIP_FIX = (
    "OpenAI-tagged CLIPs must be built with QuickGELU (the project does this from the tag's quick_gelu flag); "
    "a local open_clip folder must describe its weights in open_clip_config.json (\"quick_gelu\": true for "
    "OpenAI's weights, the same widths and layers as the file), and an `open_clip:<arch>/<tag>` ref must name "
    "the architecture the tag was trained as"
)
HF_FIX = (
    "the folder's config.json must describe the weights file (the same model class, widths and layers): "
    "re-save it with save_pretrained from the class this role loads, or point the setting at the right model"
)
