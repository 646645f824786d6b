"""The project configuration file (`semitruths.yaml`): sources, model profile, storage root, parameters.

Relative paths resolve against the folder of the configuration file; `${VAR}` and `${VAR:-default}`
expand from the environment. `SEMITRUTHS_CONFIG` names another file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import MISSING, dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV = "SEMITRUTHS_CONFIG"
DEMO_ENV = "SEMITRUTHS_DEMO"  # "1": apply the file's `demo:` section (set by `semitruths demo`)
PARTITION_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration file breaks a rule; the message names the file and the key."""


@dataclass(frozen=True)
class SourceConfig:
    """One source dataset, which is one partition of every per-dataset asset."""

    name: str
    adapter: str
    root: Path | None = None
    dataset: str | None = None  # filter on the metadata's `dataset` column (standardized layout)
    description: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    # `shards: N` splits a source into N partitions `<name>.shard<i>` (by a stable hash of the image id),
    # so that a backfill can put one GPU on each; cross-dataset assets read every shard.
    shards: int = 1
    shard: int = 0


@dataclass(frozen=True)
class MaskParams:
    """Mask filtering and preprocessing before inpainting (paper A.1)."""

    min_area_ratio: float = 0.05
    max_filter_size: int = 9
    max_filter_passes: int = 2
    mode_filter_size: int = 9  # the paper says 9; the original code used 10
    gaussian_blur_radius: float = 16.0


@dataclass(frozen=True)
class ModelsConfig:
    """Which model profile to load (`tiny`, `paper`) and per-model local paths or hub ids."""

    profile: str = "tiny"
    overrides: dict[str, str] = field(default_factory=dict)
    device: str = "auto"
    dtype: str = "auto"


@dataclass(frozen=True)
class ProjectConfig:
    path: Path
    storage_root: Path
    sources: dict[str, SourceConfig]
    masks: MaskParams = MaskParams()
    models: ModelsConfig = ModelsConfig()
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    # `storage.root` as given when it is an object-store URL (s3://bucket/prefix); `storage_root` is then
    # the local per-worker cache (`storage.cache`) for model folders and rendered sources.
    storage_url: str = ""

    @property
    def storage_location(self) -> str | Path:
        """Where stage tables, chunks, images and reports live: the URL, else the local root."""
        return self.storage_url or self.storage_root

    @property
    def dataset_names(self) -> list[str]:
        return list(self.sources)

    def section(self, name: str) -> dict[str, Any]:
        """A section of the file that a later stage reads itself (empty when absent)."""
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError(f"{self.path}: section '{name}' must be a mapping")
        return value

    def params(self, name: str, cls: type) -> Any:
        """The `name` section parsed into the stage's parameters dataclass (defaults when absent)."""
        return build_section(cls, self.section(name), f"{self.path}: {name}")

    def source(self, name: str) -> SourceConfig:
        try:
            return self.sources[name]
        except KeyError:
            raise ConfigError(
                f"{self.path}: no source named '{name}' (known: {', '.join(self.sources)})"
            ) from None


def expand_env(value: Any) -> Any:
    """Expand `${VAR}` / `${VAR:-default}` in every string of a parsed YAML tree."""
    if isinstance(value, str):
        return _ENV_RE.sub(lambda m: os.environ.get(m.group(1)) or (m.group(2) or ""), value)
    if isinstance(value, dict):
        return {k: expand_env(v) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v) for v in value]
    return value


def default_config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or PROJECT_ROOT / "semitruths.yaml").resolve()


def _resolve(base: Path, value: str | None) -> Path | None:
    if value in (None, ""):
        return None
    path = Path(value).expanduser()
    return (path if path.is_absolute() else base / path).resolve()


def typed(types: tuple[type, ...], what: str, **kwargs: Any) -> Any:
    """A dataclass field whose value `build_section` checks against `types` ("expected <what>")."""
    return field(metadata={"types": types, "what": what}, **kwargs)


def build_section(cls: type, values: dict[str, Any] | None, where: str,
                  error: Callable[[str, str], Exception] | None = None) -> Any:
    """A parameters dataclass from one section of the file. Unknown keys, missing required keys and
    values of the wrong type (fields declared with `typed`) are errors naming the file and the key;
    `error(key, problem)` makes them (default: ConfigError)."""
    values = dict(values or {})
    fields = cls.__dataclass_fields__
    unknown = sorted(map(str, set(values) - set(fields)))
    if unknown and error is None:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; allowed: {sorted(fields)}")
    fail = error or (lambda key, problem: ConfigError(f"{where}: key '{key}': {problem}"))
    if unknown:
        raise fail(unknown[0], f"unknown key (allowed: {', '.join(sorted(fields))})")
    for name, f in fields.items():
        required = f.default is MISSING and f.default_factory is MISSING and f.init
        if required and name not in values:
            raise fail(name, "missing (required)")
        types, value = f.metadata.get("types"), values.get(name)
        # bool is an int in Python: never accept True for a number.
        if types and value is not None and (not isinstance(value, types) or
                                            (isinstance(value, bool) and bool not in types)):
            raise fail(name, f"expected {f.metadata['what']}, got {type(value).__name__} {value!r}")
    try:
        return cls(**values)
    except TypeError as exc:
        raise fail("<root>", str(exc)) from None


def with_demo_settings(raw: dict[str, Any], where: Path) -> dict[str, Any]:
    """The file's settings with its `demo:` section laid over them, key by key within each section
    (what `semitruths demo` runs: the same graph on fewer items)."""
    demo = raw.get("demo") or {}
    if not isinstance(demo, dict) or not all(isinstance(v, dict) for v in demo.values()):
        raise ConfigError(f"{where}: 'demo' must map section names to mappings of settings")
    merged = dict(raw)
    for section, values in demo.items():
        merged[section] = {**(raw.get(section) or {}), **values}
    return merged


def load_config(path: str | os.PathLike | None = None, storage_root: str | None = None) -> ProjectConfig:
    """Read and check the configuration file; `storage_root` overrides the file's value."""
    cfg_path = Path(path).resolve() if path else default_config_path()
    if not cfg_path.is_file():
        raise ConfigError(f"configuration file not found: {cfg_path} (set {CONFIG_ENV} to its path)")
    try:
        raw = expand_env(yaml.safe_load(cfg_path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: the top level must be a mapping")
    if os.environ.get(DEMO_ENV) == "1":
        raw = with_demo_settings(raw, cfg_path)
    base = cfg_path.parent

    sources: dict[str, SourceConfig] = {}
    for name, spec in (raw.get("sources") or {}).items():
        where = f"{cfg_path}: sources.{name}"
        if not PARTITION_KEY_RE.match(str(name)):
            raise ConfigError(f"{where}: a source name may hold only letters, digits, '_', '.', '-'")
        if not isinstance(spec, dict) or "adapter" not in spec:
            raise ConfigError(f"{where}: needs at least an 'adapter'")
        spec = dict(spec)
        spec["root"] = _resolve(base, spec.get("root"))
        shards = spec.get("shards", 1)
        if not isinstance(shards, int) or shards < 1:
            raise ConfigError(f"{where}.shards: must be a whole number >= 1, got {shards!r}")
        for i in range(shards):
            key = f"{name}.shard{i}" if shards > 1 else str(name)
            sources[key] = build_section(SourceConfig, {**spec, "name": key, "shard": i}, where)
    if not sources:
        raise ConfigError(f"{cfg_path}: 'sources' names no dataset")

    _check_conditions(raw.get("conditions"), cfg_path)
    storage = raw.get("storage") or {}
    root_value = str(storage_root or storage.get("root") or "var/storage")
    storage_url = ""
    if "://" in root_value and not root_value.startswith("file://"):
        from .storage.location import StorageError, check_scheme  # late: storage imports polars / duckdb

        try:
            check_scheme(root_value)
        except StorageError as exc:
            raise ConfigError(f"{cfg_path}: {exc}") from None
        storage_url, root_value = root_value.rstrip("/"), str(storage.get("cache") or "var/cache")
    root = _resolve(base, root_value.removeprefix("file://"))
    models = dict(raw.get("models") or {})
    models["overrides"] = {
        k: str(_resolve(base, v)) if str(v).startswith((".", "/", "~")) else str(v)
        for k, v in (models.get("overrides") or {}).items()
    }
    return ProjectConfig(
        path=cfg_path,
        storage_root=root,
        sources=sources,
        masks=build_section(MaskParams, raw.get("masks"), f"{cfg_path}: masks"),
        models=build_section(ModelsConfig, models, f"{cfg_path}: models"),
        seed=int(raw.get("seed", 0)),
        raw=raw,
        storage_url=storage_url,
    )


def _check_conditions(section: Any, cfg_path: Path) -> None:
    """Post-processing conditions are checked at load, so a bad name stops before any run."""
    from .conditions import ConditionError, ConditionParams

    if section is not None and not isinstance(section, dict):
        raise ConfigError(f"{cfg_path}: section 'conditions' must be a mapping")
    try:
        build_section(ConditionParams, section, f"{cfg_path}: conditions")
    except ConditionError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from None
