"""Maps in the image store: 8-bit grey PNGs (level = round(255 P(edited))), content-addressed, so a row
holds only the store path and the hash, and equal maps share one file."""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..storage import ImageStore


def put_map(store: ImageStore, levels: np.ndarray) -> tuple[str, str]:
    """Store a quantized (uint8) map; returns (store path, sha256)."""
    if levels.dtype != np.uint8 or levels.ndim != 2:
        raise ValueError(f"a stored map is a 2-D uint8 array, got {levels.dtype} of shape {levels.shape}")
    return store.put_png(Image.fromarray(levels, mode="L"))


def load_levels(store: ImageStore, path: str) -> np.ndarray:
    """A stored map's 8-bit levels (H, W)."""
    with store.open(path) as image:
        if image.mode != "L":
            raise ValueError(f"map {path}: expected an 8-bit grey PNG, got mode {image.mode}")
        return np.asarray(image, dtype=np.uint8)
