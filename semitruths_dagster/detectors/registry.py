"""The registry folder of detector specs: validating a spec against its plugin, reading and adding spec
files, building the detector a spec names, and random-weight stand-ins registered as specs.

`build_detector(spec)` instantiates the plugin a spec names (loading its weights). `write_random_detector`
saves a plugin's random weights in its real checkpoint format and registers a spec for them marked
`random_weights: true`, so the offline demo and the tests load them through the real loading code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

from .base import Detector
from .plugins import DETECTOR_PLUGINS
from .spec import NAME_RE, TOP_KEYS, DetectorSpec, SpecError


def build_detector(spec: DetectorSpec, device: str | torch.device = "cpu") -> Detector:
    """The loaded detector of a validated spec."""
    return DETECTOR_PLUGINS[spec.plugin](spec, device=device)


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


def _check_type(source: Any, key: str, value: Any, types: tuple[type, ...], what: str) -> None:
    # bool is an int in Python: never accept True for a number.
    if isinstance(value, bool) and bool not in types:
        raise SpecError(source, key, f"expected {what}, got {value!r}")
    if not isinstance(value, types):
        raise SpecError(source, key, f"expected {what}, got {type(value).__name__} {value!r}")


def validate_spec(
    data: Any, source: str | Path | None = None, base_dir: str | Path | None = None
) -> DetectorSpec:
    """Validate a parsed spec mapping against the common schema and its plugin's schema.

    Raises `SpecError` naming `source` and the offending key.
    """
    if not isinstance(data, dict):
        raise SpecError(source, "<root>", f"a spec must be a mapping, got {type(data).__name__}")
    for key in data:
        if key not in TOP_KEYS:
            raise SpecError(source, str(key), f"unknown key (allowed: {', '.join(sorted(TOP_KEYS))})")
    for key in ("name", "plugin", "version", "weights"):
        if key not in data:
            raise SpecError(source, key, "missing (required)")
    name = data["name"]
    _check_type(source, "name", name, (str,), "a string")
    if not NAME_RE.match(name):
        raise SpecError(source, "name", f"{name!r} must match {NAME_RE.pattern}")
    plugin = data["plugin"]
    _check_type(source, "plugin", plugin, (str,), "a string")
    if plugin not in DETECTOR_PLUGINS:
        raise SpecError(source, "plugin", f"unknown plugin {plugin!r} (known: {', '.join(sorted(DETECTOR_PLUGINS))})")
    cls = DETECTOR_PLUGINS[plugin]
    version = data["version"]
    _check_type(source, "version", version, (str, int, float), "a string")
    weights = data["weights"]
    _check_type(source, "weights", weights, (dict,), "a mapping of role -> path or hub id")
    roles = set(cls.WEIGHT_ROLES) | set(cls.OPTIONAL_WEIGHT_ROLES)
    for role in cls.WEIGHT_ROLES:
        if role not in weights:
            raise SpecError(
                source, f"weights.{role}", f"missing (plugin {plugin} needs {list(cls.WEIGHT_ROLES)})"
            )
    for role, ref in weights.items():
        if role not in roles:
            raise SpecError(
                source, f"weights.{role}", f"unknown role for plugin {plugin} (roles: {sorted(roles)})"
            )
        _check_type(source, f"weights.{role}", ref, (str,), "a path or hub id")
        if not ref.strip():
            raise SpecError(source, f"weights.{role}", "empty")
    options = data.get("options") or {}
    _check_type(source, "options", options, (dict,), "a mapping")
    for opt, value in options.items():
        if opt not in cls.OPTIONS:
            raise SpecError(
                source,
                f"options.{opt}",
                f"unknown option for plugin {plugin} (options: {sorted(cls.OPTIONS)})",
            )
        types, _default, doc = cls.OPTIONS[opt]
        if value is not None:
            _check_type(source, f"options.{opt}", value, types, doc)
    threshold = data.get("threshold")
    if threshold is not None:
        _check_type(source, "threshold", threshold, (int, float), "a number in [0, 1]")
        if not 0.0 <= float(threshold) <= 1.0:
            raise SpecError(source, "threshold", f"{threshold} is outside [0, 1]")
    for flag in ("random_weights", "allow_pickle"):
        if flag in data:
            _check_type(source, flag, data[flag], (bool,), "true or false")
    description = data.get("description", "")
    _check_type(source, "description", description, (str,), "a string")
    spec = DetectorSpec(
        name=name,
        plugin=plugin,
        version=str(version),
        weights={str(k): str(v) for k, v in weights.items()},
        options=dict(options),
        threshold=None if threshold is None else float(threshold),
        random_weights=bool(data.get("random_weights", False)),
        allow_pickle=bool(data.get("allow_pickle", False)),
        description=description,
        source=None if source is None else str(source),
        base_dir=None if base_dir is None else str(base_dir),
    )
    cls.check_spec(spec)  # plugin-specific rules (e.g. DE-FAKE's pickle guard), also SpecErrors
    return spec


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
