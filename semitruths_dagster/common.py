"""Small helpers shared across the library: seeds and lazy package exports.

A leaf: it imports nothing from the project, so every package may use it without a cycle.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def derive_seed(base_seed: int, *parts: Any) -> int:
    """A 31-bit seed derived from the run's seed and some parts (request id, attempt): no two requests or
    attempts share a seed by construction, and the same inputs always get the same seed."""
    digest = hashlib.sha256(json.dumps([base_seed, *parts], default=str).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def lazy_exports(package: str, exports: Mapping[str, Sequence[str]]) -> tuple[Callable[[str], Any],
                                                                              Callable[[], list[str]]]:
    """`__getattr__` and `__dir__` for a package whose names live in submodules (`exports`: submodule,
    relative to the package -> its names): a submodule is imported when one of its names is first used.

    Why: importing one light module of a package (a settings class) runs the package's `__init__`;
    with eager re-exports that would import torch, diffusers or scikit-learn into every process that
    only loads the Dagster code location."""

    where = {name: module for module, names in exports.items() for name in names}
    # A submodule's import sets the package attribute of its own name, hiding an export of that name.
    clashes = sorted(name for name in where if importlib.util.find_spec(f"{package}.{name}") is not None)
    if clashes:
        raise ValueError(f"{package}: lazy exports {clashes} are also submodule names; import them from the submodule")

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module, package), name)
        setattr(importlib.import_module(package), name, value)  # resolved once
        return value

    def __dir__() -> list[str]:
        return sorted(set(where) | set(vars(importlib.import_module(package))))

    return __getattr__, __dir__
