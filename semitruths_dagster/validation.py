"""Opening input files with one named rule per way they can be broken."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .paths import PathEscapesRoot, resolve_inside
from .png_integrity import verify_png

UNDECODABLE = (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombWarning,
               Image.DecompressionBombError)  # BrokenPNG is a ValueError


class ItemRejected(Exception):
    """An input item broke `rule`; the message says how, naming the file."""

    def __init__(self, rule: str, message: str, file: str | os.PathLike | None = None) -> None:
        super().__init__(f"{file}: {message} [{rule}]" if file else f"{message} [{rule}]")
        self.rule, self.message, self.file = rule, message, str(file) if file else None


def locate(root: Path, relpath: str) -> Path:
    """The file a metadata path names, which must exist and stay inside `root`."""
    try:
        path = resolve_inside(root, relpath)
    except PathEscapesRoot as exc:
        raise ItemRejected("path_inside_root", str(exc), relpath) from None
    if not path.is_file():
        raise ItemRejected("file_exists", "file not found", path)
    if path.stat().st_size == 0:
        raise ItemRejected("file_not_empty", "file is zero bytes", path)
    return path


def open_decoded(path: Path) -> Image.Image:
    """Decode the whole file now, so truncated or corrupt data is caught here, not downstream."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
    except UNDECODABLE as exc:
        raise ItemRejected("decodable", f"cannot decode image: {exc}", path) from None
    return image


def verified_rgb(path: Path) -> tuple[Image.Image, bytes]:
    """An RGB image opened (header read, pixels not loaded) and the file's bytes, its whole data checked:
    a non-interlaced PNG by `verify_png` (CRCs, the full zlib stream, scanline filters), anything else by
    decoding it. For imports that store the file as it is and only need its size and format."""
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.format != "PNG" or not verify_png(data):
                image.load()
    except UNDECODABLE as exc:
        raise ItemRejected("decodable", f"cannot decode image: {exc}", path) from None
    if image.mode != "RGB":
        raise ItemRejected("rgb_image", f"image mode is {image.mode}, expected RGB", path)
    return image, data


def load_mask_array(path: Path, size: tuple[int, int]) -> np.ndarray:
    """A mask's pixel values as a 2-D array; colour masks are reduced to luminance."""
    image = open_decoded(path)
    if image.size != size:
        raise ItemRejected(
            "mask_size_matches_image", f"mask is {image.size[0]}x{image.size[1]}, image is {size[0]}x{size[1]}", path
        )
    if image.mode not in ("L", "I", "I;16", "F"):
        image = image.convert("L")
    return np.asarray(image)
