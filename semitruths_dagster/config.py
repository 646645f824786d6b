"""The project configuration file (`semitruths.yaml`): read, expanded, and every section checked and typed
(`sections.py` defines them, `schema.py` checks them) before anything runs.

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

from .schema import SettingError, check_values, registry_names
from .sections import SECTIONS, MaskParams, ModelsConfig, SourceConfig, StorageParams, section_class

PROJECT_ROOT = Path(__file__).resolve().parents[1]
CONFIG_ENV = "SEMITRUTHS_CONFIG"
DEMO_ENV = "SEMITRUTHS_DEMO"  # "1": apply the file's `demo:` section (set by `semitruths demo`)
PARTITION_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")
_ENV_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(ValueError):
    """The configuration file breaks a rule; the message (one line) names the file, the key and the rule."""


@dataclass(frozen=True)
class ProjectConfig:
    path: Path
    storage_root: Path
    sources: dict[str, SourceConfig]
    masks: MaskParams = MaskParams()
    models: ModelsConfig = ModelsConfig()
    seed: int = 0
    raw: dict[str, Any] = field(default_factory=dict)
    # every section of SECTIONS, parsed and checked when the file was read
    sections: dict[str, Any] = field(default_factory=dict)
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
        """The `name` section as the stage's parameters (checked at load; defaults when absent)."""
        parsed = self.sections.get(name)
        if isinstance(parsed, cls):
            return parsed
        try:
            return parse_section(cls, self.section(name), name)
        except SettingError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None

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
    """A dataclass from a mapping of a detector spec file or of a plugin's options (the configuration's
    sections are checked by `schema.check_values` instead). Unknown keys, missing required keys and
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


def parse_section(cls: type, values: dict[str, Any] | None, section: str) -> Any:
    """One section as its dataclass: SettingError (key path and rule) when a key breaks a rule."""
    if values is not None and not isinstance(values, dict):
        raise SettingError(section, f"expected a mapping, got {type(values).__name__} {values!r}")
    checked = check_values(cls, values or {}, section)
    try:
        return cls(**checked)
    except SettingError:
        raise
    except (ValueError, TypeError) as exc:  # a section's own rule (e.g. a condition name)
        message = " ".join(str(exc).split())
        key, _, rule = message.partition(": ")
        raise SettingError(key, rule) if key.startswith(section) and rule else SettingError(section, message) from None


def _parse_sources(raw: Any, base: Path) -> dict[str, SourceConfig]:
    if not isinstance(raw, dict) or not raw:
        raise SettingError("sources", "must map at least one dataset name to its settings")
    sources: dict[str, SourceConfig] = {}
    for name, spec in raw.items():
        where = f"sources.{name}"
        if not PARTITION_KEY_RE.match(str(name)):
            raise SettingError(where, "a source name may hold only letters, digits, '_', '.', '-'")
        if not isinstance(spec, dict) or "adapter" not in spec:
            raise SettingError(where, "needs at least an 'adapter'")
        if "name" in spec or "shard" in spec:
            raise SettingError(f"{where}.{'name' if 'name' in spec else 'shard'}", "set by the loader, not the file")
        adapter = spec["adapter"]
        if adapter in registry_names("native format") and adapter not in registry_names("source adapter"):
            raise SettingError(f"{where}.adapter", f"'{adapter}' is a benchmark's own format; its adapter is not "
                               "written yet (semitruths_dagster/sources/native/): convert it to the standardized "
                               "layout meanwhile")
        values = check_values(SourceConfig, {**spec, "name": str(name)}, where)
        values["root"] = _resolve(base, spec.get("root"))
        shards = values.get("shards", 1)
        for i in range(shards):
            key = f"{name}.shard{i}" if shards > 1 else str(name)
            sources[key] = SourceConfig(**{**values, "name": key, "shard": i})
    return sources


def parse_sections(raw: dict[str, Any], base: Path) -> tuple[dict[str, SourceConfig], dict[str, Any]]:
    """Every section of a parsed file checked and typed: unknown sections, unknown keys, wrong types,
    values out of range and unknown names are SettingErrors (key path and rule)."""
    unknown = sorted(set(map(str, raw)) - {"sources", "seed", "demo", *SECTIONS})
    if unknown:
        raise SettingError(unknown[0], f"unknown section (known: {', '.join(['sources', 'seed', 'demo', *SECTIONS])})")
    seed = raw.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SettingError("seed", f"expected a whole number >= 0, got {seed!r}")
    sources = _parse_sources(raw.get("sources"), base)
    models = raw.get("models")
    if isinstance(models, dict) and isinstance(models.get("overrides"), dict):
        models = {**models, "overrides": {  # local folders resolve against the file's folder
            k: str(_resolve(base, v)) if isinstance(v, str) and v.startswith((".", "/", "~")) else v
            for k, v in models["overrides"].items()}}
    values = {**raw, "models": models}
    sections = {name: parse_section(section_class(name), values.get(name), name) for name in SECTIONS}
    if sections["models"].device == "cpu" and sections["detectors"].dtype == "float16":  # known before any run
        raise SettingError("detectors.dtype", "float16 on the CPU (models.device: cpu) is refused for detectors "
                           "(CPU half-precision kernels are missing or slow): use authors, float32 or bfloat16")
    return sources, sections


def load_config(path: str | os.PathLike | None = None, storage_root: str | None = None) -> ProjectConfig:
    """Read and check the configuration file (every section, the `demo:` overlay too); `storage_root`
    overrides the file's value. A broken rule is a ConfigError of one line: file, key path, rule."""
    cfg_path = Path(path).resolve() if path else default_config_path()
    if not cfg_path.is_file():
        raise ConfigError(f"configuration file not found: {cfg_path} (set {CONFIG_ENV} to its path)")
    try:
        raw = expand_env(yaml.safe_load(cfg_path.read_text()) or {})
    except yaml.YAMLError as exc:
        raise ConfigError(f"{cfg_path}: not valid YAML: {' '.join(str(exc).split())}") from None
    return config_from_raw(raw, cfg_path, storage_root, demo=os.environ.get(DEMO_ENV) == "1")


def config_from_raw(raw: Any, cfg_path: Path, storage_root: str | None = None, *, demo: bool = False,
                    cache: str | None = None) -> ProjectConfig:
    """The checked configuration of settings already read and expanded (a file's, or those a run recorded,
    deploy/run_settings.py): relative paths resolve against `cfg_path`'s folder; `demo` lays the `demo:`
    section over them; `storage_root` / `cache` override `storage.root` / `storage.cache`."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{cfg_path}: the top level must be a mapping")
    base = cfg_path.parent
    overlaid = with_demo_settings(raw, cfg_path)
    try:
        if raw.get("demo"):  # the overlay is checked whether or not this run uses it
            for section in raw["demo"]:
                if section not in SECTIONS:
                    raise SettingError(f"demo.{section}", f"not a section with settings (known: {', '.join(SECTIONS)})")
            parse_sections(overlaid, base)
        if demo:
            raw = overlaid
        sources, sections = parse_sections(raw, base)
    except SettingError as exc:
        raise ConfigError(f"{cfg_path}: {exc}") from None

    storage: StorageParams = sections["storage"]
    root_value = str(storage_root or storage.root)
    storage_url = ""
    if "://" in root_value and not root_value.startswith("file://"):
        from .storage.location import StorageError, check_scheme  # late: storage imports polars / duckdb

        try:
            check_scheme(root_value)
        except StorageError as exc:
            raise ConfigError(f"{cfg_path}: {exc}") from None  # names storage.root
        storage_url, root_value = root_value.rstrip("/"), str(cache or storage.cache)
    return ProjectConfig(
        path=cfg_path,
        storage_root=_resolve(base, root_value.removeprefix("file://")),
        sources=sources,
        masks=sections["masks"],
        models=sections["models"],
        seed=int(raw.get("seed", 0)),
        raw=raw,
        sections=sections,
        storage_url=storage_url,
    )
