"""Weight digests: `sha256.<role>` of a spec is the sha256 of the role's local weight file; for a folder
(an open_clip or hub layout) the sha256 of the sorted lines `<relative path>  <file sha256>` of every file
under it. Checked on every load, before anything reads the weights."""

from __future__ import annotations

import hashlib
from pathlib import Path

from .cache import file_sha256
from .checkpoints import CheckpointError, resolve_weight_ref
from .spec import DetectorSpec


def weights_digest(path: str | Path) -> str:
    """sha256 of a weight file, or of a folder's sorted `<relative path>  <file sha256>` lines."""
    p = Path(path)
    if p.is_dir():
        lines = [f"{f.relative_to(p).as_posix()}  {file_sha256(f)}" for f in sorted(p.rglob("*")) if f.is_file()]
        return hashlib.sha256("\n".join(lines).encode()).hexdigest()
    return file_sha256(p)


def check_digests(spec: DetectorSpec) -> None:
    """Raise a CheckpointError (spec, file, rule, expected and actual digest) for the first mismatch."""
    for role, expected in spec.sha256.items():
        _, path = resolve_weight_ref(spec.weights[role], spec.base_dir)
        what = f"detector '{spec.name}' ({spec.source or 'in-memory spec'}) weights.{role}"
        if not Path(path).exists():
            raise CheckpointError(f"{what}: file not found: {path}")
        actual = weights_digest(path)
        if actual != expected:
            raise CheckpointError(
                f"{what}: {path} fails rule sha256.{role}: expected {expected}, actual {actual}"
            )
