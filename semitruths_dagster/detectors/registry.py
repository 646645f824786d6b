"""From specs to running detectors, and random-weight stand-ins registered as specs.

`build_detector(spec)` instantiates the plugin a spec names (loading its weights). `write_random_detector`
saves a plugin's random weights in its real checkpoint format and registers a spec for them marked
`random_weights: true`, so the offline demo and the tests load them through the real loading code.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .base import Detector
from .plugins import PLUGINS
from .spec import DetectorSpec, add_spec, load_spec, validate_spec


def build_detector(
    spec: DetectorSpec, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32
) -> Detector:
    """The loaded detector of a validated spec, its weights on `device` in `dtype`."""
    return PLUGINS[spec.plugin](spec, device=device, dtype=dtype)


def random_spec(
    plugin: str, weights_dir: str | Path, name: str | None = None, seed: int = 0, tiny: bool = True
) -> DetectorSpec:
    """Save `plugin`'s seeded random weights under `weights_dir` and return a validated spec for them."""
    if plugin not in PLUGINS:
        raise ValueError(f"unknown plugin {plugin!r} (known: {', '.join(sorted(PLUGINS))})")
    saved = PLUGINS[plugin].save_random_weights(Path(weights_dir), seed=seed, tiny=tiny)
    data = {
        "name": name or f"{plugin.replace('_', '-')}-random",
        "plugin": plugin,
        "version": f"random-seed{seed}{'-tiny' if tiny else ''}",
        "weights": saved.weights,
        "options": saved.options,
        "random_weights": True,
        "allow_pickle": saved.allow_pickle,
        "description": "RANDOM WEIGHTS (offline stand-in): scores are meaningless",
    }
    return validate_spec(data, source=f"<random {plugin}>")


def write_random_detector(
    plugin: str,
    registry_dir: str | Path,
    weights_dir: str | Path,
    name: str | None = None,
    seed: int = 0,
    tiny: bool = True,
) -> Path:
    """`random_spec` + `add_spec`: the spec file (absolute weight paths) in the registry folder.

    Returns the existing file, writing nothing, when it already is a random-weight spec of that plugin
    (so demos can call this on every run); refuses to replace any other spec of that name.
    """
    spec_name = name or f"{plugin.replace('_', '-')}-random"
    target = Path(registry_dir) / f"{spec_name}.yaml"
    if target.is_file():
        existing = load_spec(target)
        if existing.random_weights and existing.plugin == plugin:
            return target
    spec = random_spec(plugin, Path(weights_dir) / spec_name, spec_name, seed, tiny)
    return add_spec(registry_dir, spec)
