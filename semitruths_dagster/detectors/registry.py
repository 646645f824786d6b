"""The registry folder of detector specs: validating a spec against its plugin, reading and adding spec
files, building the detector a spec names, and random-weight stand-ins registered as specs.

`build_detector(spec)` instantiates the plugin a spec names (loading its weights). `write_random_detector`
saves a plugin's random weights in its real checkpoint format and registers a spec for them marked
`random_weights: true`, so the offline demo and the tests load them through the real loading code.
"""

from __future__ import annotations

from dataclasses import make_dataclass, replace
from pathlib import Path
from typing import Any

import torch
import yaml

from ..config import build_section, typed
from ..hub import ModelSource
from .base import Detector
from .plugins import DETECTOR_PLUGINS
from .runtime import scoring_settings
from .spec import NAME_RE, NOT_YAML_KEYS, DetectorSpec, SpecError, parse_digests, parse_golden


def build_detector(
    spec: DetectorSpec, source: ModelSource | None = None, *, device: str | torch.device | None = None,
    dtype: torch.dtype | str | None = None, protocol: str = "authors",
) -> Detector:
    """The loaded detector of a validated spec, its weights on the device in the precision of `source` (a
    `hub.ModelSource`, as every loader takes; see `runtime.scoring_settings`) or of `device` / `dtype`
    (torch device and dtype or 'authors'; default: the CPU in float32). Not both. `protocol`: the input
    transform (`detectors.protocol`: authors | paper, `protocol.py`)."""
    if source is not None:
        if not isinstance(source, ModelSource):
            raise TypeError(f"build_detector: source must be a hub.ModelSource, got {source!r} "
                            "(pass a device or dtype by keyword: device=..., dtype=...)")
        if device is not None or dtype is not None:
            raise TypeError("build_detector: give either a ModelSource or device / dtype, not both")
        settings = scoring_settings(source)
        device, dtype = settings.device, settings.dtype
    return DETECTOR_PLUGINS[spec.plugin](spec, device="cpu" if device is None else device,
                                         dtype=torch.float32 if dtype is None else dtype, protocol=protocol)


def random_spec(
    plugin: str, weights_dir: str | Path, name: str | None = None, seed: int = 0, tiny: bool = True
) -> DetectorSpec:
    """Save `plugin`'s seeded random weights under `weights_dir` and return a validated spec for them."""
    if plugin not in DETECTOR_PLUGINS:
        raise ValueError(f"unknown plugin {plugin!r} (known: {', '.join(sorted(DETECTOR_PLUGINS))})")
    saved = DETECTOR_PLUGINS[plugin].save_random_weights(Path(weights_dir), seed=seed, tiny=tiny)
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


def validate_spec(
    data: Any, source: str | Path | None = None, base_dir: str | Path | None = None
) -> DetectorSpec:
    """Validate a parsed spec mapping against the common schema and its plugin's schema (both through
    `build_section`, like every section of the configuration).

    Raises `SpecError` naming `source` and the offending key.
    """
    def fail(key: str, problem: str) -> SpecError:
        return SpecError(source, key, problem)

    if not isinstance(data, dict):
        raise fail("<root>", f"a spec must be a mapping, got {type(data).__name__}")
    allowed = ", ".join(sorted(set(DetectorSpec.__dataclass_fields__) - set(NOT_YAML_KEYS)))
    for key in NOT_YAML_KEYS:
        if key in data:
            raise fail(key, f"unknown key (allowed: {allowed})")
    spec = build_section(DetectorSpec, data, str(source), fail)
    if not NAME_RE.match(spec.name):
        raise fail("name", f"{spec.name!r} must match {NAME_RE.pattern}")
    if spec.plugin not in DETECTOR_PLUGINS:
        raise fail("plugin", f"unknown plugin {spec.plugin!r} (known: {', '.join(sorted(DETECTOR_PLUGINS))})")
    cls = DETECTOR_PLUGINS[spec.plugin]
    roles = set(cls.WEIGHT_ROLES) | set(cls.OPTIONAL_WEIGHT_ROLES)
    for role in cls.WEIGHT_ROLES:
        if role not in spec.weights:
            raise fail(f"weights.{role}", f"missing (plugin {spec.plugin} needs {list(cls.WEIGHT_ROLES)})")
    for role, ref in spec.weights.items():
        if role not in roles:
            raise fail(f"weights.{role}", f"unknown role for plugin {spec.plugin} (roles: {sorted(roles)})")
        if not isinstance(ref, str):
            raise fail(f"weights.{role}", f"expected a path or hub id, got {type(ref).__name__} {ref!r}")
        if not ref.strip():
            raise fail(f"weights.{role}", "empty")

    def option_error(key: str, problem: str) -> SpecError:
        if problem.startswith("unknown key"):
            problem = f"unknown option for plugin {spec.plugin} (options: {sorted(cls.OPTIONS)})"
        return fail(f"options.{key}", problem)

    build_section(options_class(cls), spec.options, str(source), option_error)
    if spec.threshold is not None and not 0.0 <= float(spec.threshold) <= 1.0:
        raise fail("threshold", f"{spec.threshold} is outside [0, 1]")
    spec = replace(
        spec,
        version=str(spec.version),
        weights={str(k): str(v) for k, v in spec.weights.items()},
        options=dict(spec.options),
        threshold=None if spec.threshold is None else float(spec.threshold),
        sha256=parse_digests(source, spec.sha256, spec.weights, base_dir),
        golden=parse_golden(source, spec.golden),
        source=None if source is None else str(source),
        base_dir=None if base_dir is None else str(base_dir),
    )
    cls.check_spec(spec)  # plugin-specific rules (e.g. DE-FAKE's pickle guard), also SpecErrors
    return spec


def options_class(plugin: type[Detector]) -> type:
    """A plugin's OPTIONS schema (name -> (types, default, description)) as a parameters dataclass."""
    return make_dataclass(f"{plugin.__name__}Options", [
        (name, Any, typed(types, doc, default_factory=lambda d=default: d))
        for name, (types, default, doc) in plugin.OPTIONS.items()
    ])


def registry_fingerprints(folder: str | Path) -> dict[str, str]:
    """Detector name -> version + spec file contents: a change to either re-runs that detector."""
    specs = load_registry(folder) if Path(folder).is_dir() else {}
    return {name: f"{spec.version}:{Path(spec.source).read_text()}" for name, spec in specs.items()}


def load_spec(path: str | Path) -> DetectorSpec:
    """Read and validate one YAML spec; relative weight paths resolve against its folder."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise SpecError(path, "<root>", f"not valid YAML: {exc}") from exc
    except OSError as exc:
        raise SpecError(path, "<root>", f"cannot read: {exc}") from exc
    return validate_spec(data, source=path, base_dir=path.parent)


def load_registry(folder: str | Path) -> dict[str, DetectorSpec]:
    """All specs of a registry folder (`*.yaml`, `*.yml`, sorted), keyed by name; names must be unique."""
    folder = Path(folder)
    specs: dict[str, DetectorSpec] = {}
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]):
        spec = load_spec(path)
        if spec.name in specs:
            raise SpecError(path, "name", f"{spec.name!r} is also defined in {specs[spec.name].source}")
        specs[spec.name] = spec
    return specs


def add_spec(folder: str | Path, data: dict[str, Any] | DetectorSpec, overwrite: bool = False) -> Path:
    """Validate a spec and write it to `<folder>/<name>.yaml`; returns the path.

    Refuses to replace an existing file (or another file's name) unless `overwrite`.
    """
    folder = Path(folder)
    content = data.to_dict() if isinstance(data, DetectorSpec) else dict(data)
    target = folder / f"{content.get('name', '')}.yaml"
    spec = validate_spec(content, source=target, base_dir=folder)
    if folder.is_dir() and not overwrite:
        existing = load_registry(folder)
        if spec.name in existing:
            raise SpecError(target, "name", f"{spec.name!r} already exists in {existing[spec.name].source}")
    folder.mkdir(parents=True, exist_ok=True)
    target.write_text(yaml.safe_dump(spec.to_dict(), sort_keys=False))
    return target
