"""Content-addressed image store: `<root>/images/<sha[:2]>/<sha256><ext>`.

Tables hold the store path and hash, never pixels. A blob is written once (temp file + rename), so
concurrent or repeated writes of the same content are harmless and a crash never leaves a torn file.
The root may be a folder or an object-store URL (location.py).
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from .location import inside, is_local, storage_path, write_atomic


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def png_bytes(image: Image.Image | np.ndarray) -> bytes:
    """Deterministic PNG encoding (no timestamps or text chunks), so equal pixels hash equal."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


class ImageStore:
    def __init__(self, root: str | os.PathLike) -> None:
        self.root = storage_path(root)

    def relpath(self, sha: str, ext: str) -> str:
        return f"images/{sha[:2]}/{sha}{ext}"

    def abspath(self, relpath: str) -> Path:
        """Absolute path of a store path from a table; refuses anything outside the store."""
        return inside(self.root, relpath)

    def _commit(self, rel: str, write) -> None:
        target = self.root / rel
        if not target.exists():
            write_atomic(target, write, self.root)

    def put_bytes(self, data: bytes, ext: str) -> tuple[str, str]:
        """Store `data`; returns (store path, sha256)."""
        sha = hashlib.sha256(data).hexdigest()
        rel = self.relpath(sha, ext)
        self._commit(rel, lambda fh: fh.write(data))
        return rel, sha

    def put_png(self, image: Image.Image | np.ndarray) -> tuple[str, str]:
        return self.put_bytes(png_bytes(image), ".png")

    def put_file(self, path: str | os.PathLike, sha: str | None = None) -> tuple[str, str]:
        """Copy a file into the store unchanged (original bytes, original extension)."""
        sha = sha or sha256_file(path)
        rel = self.relpath(sha, Path(path).suffix.lower())

        def copy(fh) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh)

        self._commit(rel, copy)
        return rel, sha

    def open(self, relpath: str) -> Image.Image:
        path = self.abspath(relpath)
        return Image.open(path if is_local(path) else io.BytesIO(path.read_bytes()))

    def read_bytes(self, relpath: str) -> bytes:
        return self.abspath(relpath).read_bytes()

    def local_path(self, relpath: str) -> Path:
        """A local file with the blob's bytes, for code that opens paths itself. On an object store the
        blob is copied once into a per-worker cache; names are content hashes, so a copy never goes stale."""
        path = self.abspath(relpath)
        if is_local(path):
            return path
        cached = inside(Path(tempfile.gettempdir()) / "semitruths-blob-cache", relpath)
        if not cached.is_file():
            write_atomic(cached, lambda fh: fh.write(path.read_bytes()))
        return cached
