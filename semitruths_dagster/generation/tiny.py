"""Build the tiny random-weight generators once, in the hub layout, under a tiny cache folder.

Deterministic (weights drawn from a fixed per-generator seed) and idempotent (a finished folder holds the
marker file and is reused); built in a temporary sibling folder and renamed into place, so concurrent
processes never see half a model.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from pathlib import Path

import torch

from ..models.handle import TINY_MARKER
from .quiet import quiet_progress
from .registry import generator_spec

# Bump when a recipe changes, so old folders are not mistaken for the new recipe.
GENERATION_TINY_VERSION = "1"
TINY_SEED = 0


def tiny_generator_dir(root: str | os.PathLike, generator: str) -> Path:
    """The folder of a generator's tiny model under the tiny cache."""
    return Path(root) / f"gen-{generator}-v{GENERATION_TINY_VERSION}"


def _build(generator: str, tmp: Path, target: Path) -> None:
    from .families import family

    family(generator_spec(generator).family).build_tiny(tmp, target)


def tiny_seed(generator: str) -> int:
    """A fixed seed per generator, so sd14 / sd15 / openjourney get different (but repeatable) weights."""
    return TINY_SEED + zlib.crc32(generator.encode()) % 10_000


def ensure_tiny_generator(root: str | os.PathLike, generator: str) -> Path:
    """Build a generator's tiny model under `root` unless it is there; return its folder."""
    target = tiny_generator_dir(root, generator)
    if (target / TINY_MARKER).is_file():
        if generator_spec(generator).family == "kandinsky22":
            from .tiny_kandinsky import model_card_is_current, write_model_card

            if not model_card_is_current(target):  # the cache folder was moved: re-point at its prior
                write_model_card(target, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        seed = tiny_seed(generator)
        with torch.random.fork_rng(devices=[]), quiet_progress():  # leave the caller's RNG state alone
            torch.manual_seed(seed)
            _build(generator, tmp, target)
        marker = {
            "random_weights": True,
            "generator": generator,
            "recipe": GENERATION_TINY_VERSION,
            "seed": seed,
            "safety_checker": False,
        }
        (tmp / TINY_MARKER).write_text(json.dumps(marker, indent=2))
        try:
            tmp.rename(target)
        except OSError:
            if not (target / TINY_MARKER).is_file():  # lost a race to a finished copy: fine
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def read_marker(folder: str | os.PathLike) -> dict:
    """The tiny marker of a folder, or {} for a real model."""
    path = Path(folder) / TINY_MARKER
    return json.loads(path.read_text()) if path.is_file() else {}
