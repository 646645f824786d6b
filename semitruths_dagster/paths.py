"""Paths from metadata stay inside their root."""

from __future__ import annotations

import os
from pathlib import Path


class PathEscapesRoot(ValueError):
    """A relative path from metadata resolves outside the folder it must stay in."""


def resolve_inside(root: str | os.PathLike, relpath: str | os.PathLike) -> Path:
    """`root / relpath`, resolved (symlinks too); raises PathEscapesRoot if it leaves `root`."""
    root = Path(root).resolve()
    rel = Path(relpath)
    if rel.is_absolute():
        raise PathEscapesRoot(f"'{relpath}' is absolute; metadata paths must be relative to {root}")
    path = (root / rel).resolve()
    if not path.is_relative_to(root):
        raise PathEscapesRoot(f"'{relpath}' resolves to {path}, outside its root {root}")
    return path
