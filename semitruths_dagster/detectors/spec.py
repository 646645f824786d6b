"""Detector specs: the small YAML files of the registry folder, their validation, and adding one.

A spec names a detector and says which plugin runs it, with which weights and options:

    name: ufd                      # unique; [a-z0-9_-]
    plugin: universal_fake_detect  # a key of `PLUGINS`
    version: "1"                   # bump when weights or code change: predictions are cached by it
    weights:                       # role -> local path (relative to this file) or hub ref
      backbone: open_clip:ViT-L-14/openai
      head: weights/ufd/fc_weights.pth
    options: {}                    # plugin options (see the plugin's OPTIONS)
    threshold: 0.5                 # optional; the plugin's default otherwise
    random_weights: false          # true for random-weight stand-ins: flagged on every prediction
    allow_pickle: false            # true only for checkpoints that are pickled modules (runs their code)
    description: "..."             # optional
    sha256:                        # optional: role -> digest of the local weight file (or folder, see verify.py)
      head: 4771007457...
    golden:                        # optional: images with the P(fake) the authors' code gives them
      - {image: golden/fake.png, p_fake: 0.973, tolerance: 0.01}

Validation errors are `SpecError`s that name the file and the key (`detectors/ufd.yaml: key 'weights.head':
...`), so a user can fix the file without reading code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
TOP_KEYS = {
    "name",
    "plugin",
    "version",
    "weights",
    "options",
    "threshold",
    "random_weights",
    "allow_pickle",
    "description",
    "sha256",
    "golden",
}
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class GoldenImage:
    """An image and the P(fake) the detector must give it, within `tolerance`."""

    image: str  # absolute, or relative to the spec's folder
    p_fake: float
    tolerance: float


class SpecError(ValueError):
    """A detector spec is invalid; the message names the file and the key."""

    def __init__(self, source: str | Path | None, key: str, problem: str) -> None:
        self.source = str(source) if source is not None else "<spec>"
        self.key = key
        super().__init__(f"{self.source}: key '{key}': {problem}")


@dataclass(frozen=True)
class DetectorSpec:
    """One validated registry entry. `weights` values are as written; `base_dir` resolves relative paths."""

    name: str
    plugin: str
    version: str
    weights: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    threshold: float | None = None
    random_weights: bool = False
    allow_pickle: bool = False
    description: str = ""
    sha256: dict[str, str] = field(default_factory=dict)  # role -> expected digest of its local weights
    golden: tuple[GoldenImage, ...] = ()
    source: str | None = None  # the YAML file it came from
    base_dir: str | None = None  # folder that relative weight paths are relative to

    def to_dict(self) -> dict[str, Any]:
        """The YAML content of this spec (without where it was read from)."""
        out: dict[str, Any] = {
            "name": self.name,
            "plugin": self.plugin,
            "version": self.version,
            "weights": dict(self.weights),
            "options": dict(self.options),
            "random_weights": self.random_weights,
            "allow_pickle": self.allow_pickle,
        }
        if self.threshold is not None:
            out["threshold"] = self.threshold
        if self.description:
            out["description"] = self.description
        if self.sha256:
            out["sha256"] = dict(self.sha256)
        if self.golden:
            out["golden"] = [dict(g.__dict__) for g in self.golden]
        return out


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
    from .plugins import PLUGINS  # late: plugins import this module's types

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
    if plugin not in PLUGINS:
        raise SpecError(source, "plugin", f"unknown plugin {plugin!r} (known: {', '.join(sorted(PLUGINS))})")
    cls = PLUGINS[plugin]
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
    sha256 = _digests(source, data.get("sha256") or {}, weights, base_dir)
    golden = _golden(source, data.get("golden") or [])
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
        sha256=sha256,
        golden=golden,
        source=None if source is None else str(source),
        base_dir=None if base_dir is None else str(base_dir),
    )
    cls.check_spec(spec)  # plugin-specific rules (e.g. DE-FAKE's pickle guard), also SpecErrors
    return spec


def _digests(source: Any, data: Any, weights: dict[str, str], base_dir: Any) -> dict[str, str]:
    from .checkpoints import resolve_weight_ref

    _check_type(source, "sha256", data, (dict,), "a mapping of weight role -> sha256 hex digest")
    for role, digest in data.items():
        key = f"sha256.{role}"
        if role not in weights:
            raise SpecError(source, key, f"no weight role {role!r} in this spec (roles: {sorted(weights)})")
        _check_type(source, key, digest, (str,), "a sha256 hex digest")
        if not SHA256_RE.match(digest.lower()):
            raise SpecError(source, key, f"{digest!r} is not 64 hex digits")
        if resolve_weight_ref(weights[role], base_dir)[0] == "hub":
            raise SpecError(source, key, "digests apply to local files; download the hub weights (or run "
                            "`semitruths detector convert`) and point the spec at the local copy")
    return {str(k): str(v).lower() for k, v in data.items()}


def _golden(source: Any, data: Any) -> tuple[GoldenImage, ...]:
    _check_type(source, "golden", data, (list,), "a list of {image, p_fake, tolerance}")
    out = []
    for i, item in enumerate(data):
        key = f"golden[{i}]"
        _check_type(source, key, item, (dict,), "a mapping {image, p_fake, tolerance}")
        if set(item) != {"image", "p_fake", "tolerance"}:
            raise SpecError(source, key, f"needs exactly image, p_fake, tolerance (got {sorted(item)})")
        _check_type(source, f"{key}.image", item["image"], (str,), "a path relative to the spec")
        if ".." in Path(item["image"]).parts:
            raise SpecError(source, f"{key}.image", "must not contain '..' (relative paths stay inside the spec's folder)")
        for field_, upper in (("p_fake", 1.0), ("tolerance", 1.0)):
            value = item[field_]
            _check_type(source, f"{key}.{field_}", value, (int, float), "a number in [0, 1]")
            if not 0.0 <= float(value) <= upper:
                raise SpecError(source, f"{key}.{field_}", f"{value} is outside [0, 1]")
        out.append(GoldenImage(item["image"], float(item["p_fake"]), float(item["tolerance"])))
    return tuple(out)


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
