"""What made a row: code version, parameters and time, recorded on every row of every stage."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from functools import cache
from typing import Any

from . import __version__
from .config import PROJECT_ROOT


@cache
def code_version() -> str:
    """Package version plus the git commit it runs from (`+dirty` when the tree has changes)."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{sha}{'.dirty' if dirty else ''}"


def params_json(params: Any) -> str:
    """Canonical JSON of the parameters that made a row (dataclasses and paths included)."""
    if hasattr(params, "__dataclass_fields__"):
        params = {k: getattr(params, k) for k in params.__dataclass_fields__}
    return json.dumps(params, sort_keys=True, default=str)


def utc_now() -> datetime:
    return datetime.now(UTC)
