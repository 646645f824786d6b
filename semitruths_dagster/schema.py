"""How a section of semitruths.yaml is checked: each key's type from its dataclass annotation, its range and
its allowed names from the field's `rule(...)`, and registry names read without importing the registry.

Torch-free by design (stdlib only): the configuration is checked when it is read (the CLI, the code
location's load, every run), before anything heavy is imported. A registry that lives in a module that
imports torch or a model library is read from that module's source (`registry_names`), and a test checks
that what it reads equals the imported registry, so a new generator, plugin, adapter or backend is known
here the moment it is registered.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
import typing
from collections.abc import Callable
from dataclasses import MISSING, field
from functools import cache
from pathlib import Path
from typing import Any

PACKAGE = Path(__file__).resolve().parent
# A detector's name (its spec's `name`, a partition key): specs are YAML files added to the registry folder
# at run time, so settings keyed by detector (conditions.per_detector) are checked against this format when
# the file is read, and against the registry's specs when the detector runs.
DETECTOR_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


class SettingError(ValueError):
    """One key breaks one rule; `key` is its dotted path inside the file (`generation.steps`)."""

    def __init__(self, key: str, rule: str) -> None:
        super().__init__(f"{key}: {rule}")
        self.key, self.rule = key, rule


def rule(default: Any = MISSING, *, default_factory: Any = MISSING, ge: float | None = None,
         le: float | None = None, gt: float | None = None, lt: float | None = None,
         choices: tuple[str, ...] | None = None, names: str | None = None, key_names: str | None = None) -> Any:
    """A section field with rules beyond its type. Bounds apply to the value (each item of a list);
    `choices` is a fixed set, `names` the names of a registry (`REGISTRIES`), `key_names` the same for
    a mapping's keys. (A key removed from a section goes in the class's `MOVED`: key -> its one place.)"""
    meta = {k: v for k, v in dict(ge=ge, le=le, gt=gt, lt=lt, choices=choices, names=names,
                                   key_names=key_names).items() if v is not None}
    return field(default=default, default_factory=default_factory, metadata=meta)


# --- registry names, read from the registries' sources ---------------------------------------------------
def _literal_names(node: ast.AST) -> list[str]:
    """String names in a registry literal: a tuple/list of strings, a dict with string keys, or a
    comprehension over specs built as `Spec("name", ...)`."""
    if isinstance(node, (ast.Tuple, ast.List)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    if isinstance(node, ast.Dict):
        return [k.value for k in node.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
    if isinstance(node, ast.Call):  # Registry("kind", Base, <entries>)
        return _literal_names(node.args[2]) if len(node.args) >= 3 else []
    if isinstance(node, (ast.DictComp, ast.ListComp, ast.GeneratorExp)):
        source = node.generators[0].iter
        calls = source.elts if isinstance(source, (ast.Tuple, ast.List)) else []
        return [c.args[0].value for c in calls if isinstance(c, ast.Call) and c.args
                and isinstance(c.args[0], ast.Constant) and isinstance(c.args[0].value, str)]
    return []


def _assigned(path: Path, variable: str) -> list[str]:
    for node in ast.parse(path.read_text()).body:
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == variable for t in targets) and node.value is not None:
            return _literal_names(node.value)
    raise LookupError(f"{path}: no literal assignment to {variable}")


def _plugin_classes(folder: Path) -> list[str]:
    """`PLUGIN = "name"` of every class in the detector plugin modules."""
    names = []
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names += [s.value.value for s in node.body if isinstance(s, ast.Assign)
                          and any(isinstance(t, ast.Name) and t.id == "PLUGIN" for t in s.targets)
                          and isinstance(s.value, ast.Constant)]
    return names


# registry kind -> (the imported registry, as "module:attribute", for the contract test; how to read names)
REGISTRIES: dict[str, tuple[str, Callable[[], list[str]]]] = {
    "generator": ("semitruths_dagster.generation.registry:GENERATORS",
                  lambda: _assigned(PACKAGE / "generation" / "registry.py", "GENERATORS")),
    "source adapter": ("semitruths_dagster.sources.adapters:SOURCE_ADAPTERS",
                       lambda: _assigned(PACKAGE / "sources" / "adapters.py", "SOURCE_ADAPTERS")),
    "native format": ("semitruths_dagster.sources.native:NATIVE_FORMATS",  # adapters not written yet
                      lambda: _assigned(PACKAGE / "sources" / "native" / "__init__.py", "NATIVE_FORMATS")),
    "detector plugin": ("semitruths_dagster.detectors.plugins:DETECTOR_PLUGINS",
                        lambda: _plugin_classes(PACKAGE / "detectors" / "plugins")),
    "label perturber": ("semitruths_dagster.prompts.backends.factory:LABEL_PERTURBERS",
                        lambda: _assigned(PACKAGE / "prompts" / "backends" / "factory.py", "LABEL_PERTURBERS")),
    "captioner": ("semitruths_dagster.prompts.backends.factory:CAPTIONERS",
                  lambda: _assigned(PACKAGE / "prompts" / "backends" / "factory.py", "CAPTIONERS")),
    "caption rewriter": ("semitruths_dagster.prompts.backends.factory:CAPTION_REWRITERS",
                         lambda: _assigned(PACKAGE / "prompts" / "backends" / "factory.py", "CAPTION_REWRITERS")),
    "model role": ("semitruths_dagster.models.profiles:ROLE_FAMILIES",
                   lambda: _assigned(PACKAGE / "models" / "profiles.py", "ROLE_FAMILIES")),
    "control": ("semitruths_dagster.controls.kinds:CONTROLS",
                lambda: _assigned(PACKAGE / "controls" / "kinds.py", "CONTROLS")),
    "magnitude": ("semitruths_dagster.prompts.taxonomy:MAGNITUDES",
                  lambda: _assigned(PACKAGE / "prompts" / "taxonomy.py", "MAGNITUDES")),
}


@cache
def registry_names(kind: str) -> tuple[str, ...]:
    """The names registered for `kind`, read from the registry's source (no import)."""
    names = tuple(REGISTRIES[kind][1]())
    if not names:
        raise LookupError(f"no {kind} names found in the registry's source")
    return names


# --- types ---------------------------------------------------------------------------------------------
def describe(tp: Any) -> str:
    """How an error names a type: 'a whole number', 'a list of strings', ..."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "anything"
    if tp is type(None):
        return "null"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(str, args))
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}s"
        return f"a list of {len(args)} ({', '.join(describe(a) for a in args)})"
    if origin is list:
        return f"a list of {describe(args[0]).removeprefix('a ').removeprefix('an ')}s" if args else "a list"
    if tp is dict or origin is dict:
        return "a mapping" + (f" of {describe(args[0])} -> {describe(args[1])}" if args else "")
    return {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}.get(tp, str(tp))


def convert(value: Any, tp: Any, key: str) -> Any:
    """`value` checked against the annotation `tp` (lists become tuples where a tuple is declared);
    SettingError naming `key` when it does not fit."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return convert(value, option, key)
            except SettingError:
                continue
        raise _wrong(value, tp, key)
    if tp is type(None):
        if value is None:
            return None
        raise _wrong(value, tp, key)
    if origin is typing.Literal:
        if value in args:
            return value
        raise _wrong(value, tp, key)
    if origin in (tuple, list):
        if isinstance(value, (str, bytes, dict)) or not isinstance(value, (list, tuple)):
            raise _wrong(value, tp, key)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _wrong(value, tp, key)
            return tuple(convert(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, args, strict=True)))
        item = args[0] if args else Any
        items = [convert(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict:
        if not isinstance(value, dict):
            raise _wrong(value, tp, key)
        kt, vt = args or (Any, Any)
        return {convert(k, kt, f"{key}.{k}"): convert(v, vt, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _wrong(value, tp, key)
    if tp is int:  # bool is an int in Python: never accept true for a number
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise _wrong(value, tp, key)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _wrong(value, tp, key)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _wrong(value, tp, key)
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _wrong(value, tp, key)
    raise TypeError(f"{key}: no checker for the annotation {tp!r}")


def _wrong(value: Any, tp: Any, key: str) -> SettingError:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    return SettingError(key, f"expected {describe(tp)}, got {type(value).__name__} {shown}")


def _check_rules(value: Any, meta: dict[str, Any], key: str) -> None:
    if value is None:
        return
    if isinstance(value, dict) and "key_names" in meta:
        known = registry_names(meta["key_names"])
        for k in value:
            if k not in known:
                raise SettingError(f"{key}.{k}", f"unknown {meta['key_names']} '{k}' (known: {', '.join(known)})")
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    for i, item in enumerate(items):
        where = f"{key}[{i}]" if isinstance(value, (tuple, list)) else key
        if "choices" in meta and item not in meta["choices"]:
            raise SettingError(where, f"'{item}' is not one of {', '.join(meta['choices'])}")
        if "names" in meta and item not in (known := registry_names(meta["names"])):
            raise SettingError(where, f"unknown {meta['names']} '{item}' (known: {', '.join(known)})")
        if not isinstance(item, (int, float)) or isinstance(item, bool):
            continue
        for bound, test, text in (("ge", item.__ge__, ">="), ("gt", item.__gt__, ">"),
                                  ("le", item.__le__, "<="), ("lt", item.__lt__, "<")):
            if bound in meta and not test(meta[bound]):
                raise SettingError(where, f"must be {text} {meta[bound]}, got {item!r}")


@cache
def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def check_values(cls: type, values: dict[str, Any], section: str, partial: bool = False) -> dict[str, Any]:
    """The values of one section checked against `cls` (a dataclass): unknown or moved keys, missing
    required keys (unless `partial`), types and rules; returns them converted (lists -> tuples)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    out = {}
    for name, value in values.items():
        key = f"{section}.{name}"
        f = fields.get(name)
        if name in getattr(cls, "MOVED", {}):
            raise SettingError(key, f"not settable here: set {cls.MOVED[name]} (its one place)")
        if f is None:
            raise SettingError(key, f"unknown key (allowed: {', '.join(fields)})")
        out[name] = convert(value, hints(cls)[name], key)
        _check_rules(out[name], dict(f.metadata), key)
    if not partial:
        for name, f in fields.items():
            if f.default is MISSING and f.default_factory is MISSING and name not in values:
                raise SettingError(f"{section}.{name}", "missing (required)")
    return out


def checked(section: str) -> Callable[[type], type]:
    """Class decorator of a section dataclass, placed under `@dataclass` (so that its `__init__` calls the
    check): every instance is checked when it is made, from the file or in code; tuple fields hold tuples."""

    def wrap(cls: type) -> type:
        own_post_init = cls.__dict__.get("__post_init__")

        def __post_init__(self: Any) -> None:
            values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
            for name, value in check_values(type(self), values, section, partial=True).items():
                object.__setattr__(self, name, value)
            if own_post_init is not None:
                own_post_init(self)

        cls.__post_init__ = __post_init__
        cls.SECTION = section
        return cls

    return wrap
