"""Keys of the prediction cache, and image hashes.

A score is reusable exactly when the detector (name, version), the image bytes and the tensor the
detector saw (its preprocessing signature, which includes any mask-aware crop box) are the same. The
lead's storage keeps the scores; this module only says what the key is.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

CACHE_KEY_VERSION = "1"


def prediction_cache_key(detector: str, version: str, image_sha256: str, preprocessing_signature: str) -> str:
    """sha256 hex of the canonical JSON of the four parts (so no separator can make two keys collide)."""
    payload = json.dumps(
        [CACHE_KEY_VERSION, detector, str(version), image_sha256, preprocessing_signature],
        separators=(",", ":"),
        ensure_ascii=True,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """sha256 hex of a file's bytes (the image hash the stages record)."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
