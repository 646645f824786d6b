"""Build a generator's tiny random-weight pipeline once, in the hub layout, under the tiny cache.

Deterministic (weights drawn from a fixed per-generator seed) and idempotent (`hub.build_once`); the
architecture comes from the generator's family (`families.FAMILIES`).
"""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

from ..hub import build_once
from .quiet import quiet_progress
from .registry import GENERATION_TINY_VERSION, generator_spec, tiny_generator_dir

TINY_SEED = 0


def tiny_seed(generator: str) -> int:
    """A fixed seed per generator, so sd14 / sd15 / openjourney get different (but repeatable) weights."""
    return TINY_SEED + zlib.crc32(generator.encode()) % 10_000


def ensure_tiny_generator(root: str | os.PathLike, generator: str) -> Path:
    """Build a generator's tiny model under `root` unless it is there; return its folder."""
    facts = generator_spec(generator).facts
    target = tiny_generator_dir(root, generator)
    seed = tiny_seed(generator)
    marker = {"random_weights": True, "generator": generator, "recipe": GENERATION_TINY_VERSION, "seed": seed,
              "safety_checker": False}

    def build(folder: Path) -> None:
        with quiet_progress():
            facts.build_tiny(folder, target)

    build_once(target, build, stamp=json.dumps(marker, indent=2), seed=seed)
    if facts.refresh_tiny is not None:
        facts.refresh_tiny(target)
    return target
