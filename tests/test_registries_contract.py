"""One contract per registry: every entry of every `Registry` (detector plugins, generators, families, source
adapters, prompt backends, controls) goes through the same checks, so a new entry that breaks a rule the
others keep fails here, named by registry and entry. `test_every_registry_is_checked` finds the registries
in the source, so a new registry without a contract fails too."""

from __future__ import annotations

import ast
import inspect
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from semitruths_dagster.controls.base import SOURCES
from semitruths_dagster.controls.kinds import CONTROLS
from semitruths_dagster.detectors.base import Detector
from semitruths_dagster.detectors.plugins import DETECTOR_PLUGINS
from semitruths_dagster.detectors.registry import build_detector, random_spec
from semitruths_dagster.generation.families import CALL_KEYWORDS, FAMILIES
from semitruths_dagster.generation.registry import GENERATORS
from semitruths_dagster.methods import METHODS
from semitruths_dagster.models.profiles import ROLES
from semitruths_dagster.prompts.backends.factory import CAPTION_REWRITERS, CAPTIONERS, LABEL_PERTURBERS
from semitruths_dagster.registry import Registry, UnknownName
from semitruths_dagster.sources.adapters import SOURCE_ADAPTERS

REPO = Path(__file__).resolve().parents[1]
REGISTRIES: dict[str, Registry[Any]] = {
    "DETECTOR_PLUGINS": DETECTOR_PLUGINS,
    "GENERATORS": GENERATORS,
    "FAMILIES": FAMILIES,
    "SOURCE_ADAPTERS": SOURCE_ADAPTERS,
    "LABEL_PERTURBERS": LABEL_PERTURBERS,
    "CAPTIONERS": CAPTIONERS,
    "CAPTION_REWRITERS": CAPTION_REWRITERS,
    "CONTROLS": CONTROLS,
}
NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # config and CLI names: one spelling, no case or dash variants


def entries(*names: str) -> list[Any]:
    """(registry, entry name) parameters with readable ids."""
    return [pytest.param(r, n, id=f"{r}:{n}") for r in (names or REGISTRIES) for n in REGISTRIES[r]]


def test_every_registry_is_checked() -> None:
    """Every module-level `X = Registry(...)` of the library is in `REGISTRIES` (and nothing else is)."""
    found = set()
    for path in (REPO / "semitruths_dagster").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            value = getattr(node, "value", None)
            if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(value, ast.Call) \
                    and getattr(value.func, "id", None) == "Registry":
                targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
                found |= {t.id for t in targets if isinstance(t, ast.Name)}
    assert found == set(REGISTRIES)


def test_registry_kinds_are_distinct() -> None:
    """Messages name the table by `kind`: two tables with one kind would be indistinguishable."""
    kinds = [r.kind for r in REGISTRIES.values()]
    assert len(set(kinds)) == len(kinds), kinds


@pytest.mark.parametrize("registry", list(REGISTRIES))
def test_unknown_name_is_one_clear_error(registry: str) -> None:
    table = REGISTRIES[registry]
    with pytest.raises(UnknownName, match=rf"unknown {table.kind} 'no_such'.*known: {re.escape(next(iter(table)))}"):
        table["no_such"]


@pytest.mark.parametrize(("registry", "name"), entries())
def test_entry_contract(registry: str, name: str) -> None:
    """Same checks for every entry: a config-style name, unique once spelled with '-' or any case, the
    registry's base type, a description (its own or its module's), and an entry's own `name` equal to its key."""
    table = REGISTRIES[registry]
    entry = table[name]
    assert NAME.match(name), f"{table.kind} {name!r} must match {NAME.pattern}"
    assert [n.lower().replace("-", "_") for n in table].count(name) == 1
    if isinstance(entry, type):
        assert issubclass(entry, table.base)
        assert not inspect.isabstract(entry), f"{entry.__name__} leaves {sorted(entry.__abstractmethods__)}"
        # its own docstring, or its module's (a plugin module describes its one plugin)
        doc = vars(entry).get("__doc__") or sys.modules[entry.__module__].__doc__
        assert (doc or "").strip(), f"{entry.__name__} has no docstring of its own nor a module docstring"
    else:
        assert isinstance(entry, table.base)
        assert entry.name == name
        description = getattr(entry, "meaning", None) or getattr(entry, "released_name", None) \
            or getattr(entry, "build_tiny", None)
        assert description, f"{table.kind} {name!r} says nothing of itself"


# --- detector plugins ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DETECTOR_PLUGINS))
def test_detector_plugin_declarations(name: str) -> None:
    """PLUGIN is the key; weight roles, option schema, output kind and threshold are well formed; the
    random-weights template is used (a plugin declares `random_model`, not its own `save_random_weights`)."""
    cls = DETECTOR_PLUGINS[name]
    assert name == cls.PLUGIN
    roles = cls.WEIGHT_ROLES + cls.OPTIONAL_WEIGHT_ROLES
    assert roles and all(isinstance(r, str) and NAME.match(r) for r in roles), roles
    assert not set(cls.WEIGHT_ROLES) & set(cls.OPTIONAL_WEIGHT_ROLES)
    for option, (types, default, doc) in cls.OPTIONS.items():
        assert NAME.match(option) and isinstance(doc, str) and doc.strip(), f"{name}.OPTIONS[{option!r}]"
        assert isinstance(types, tuple) and types and all(isinstance(t, type) for t in types), option
        assert default is None or isinstance(default, types), f"{name}.{option}: default {default!r} vs {types}"
    assert cls.OUTPUT in ("sigmoid", "softmax")
    assert 0.0 < cls.DEFAULT_THRESHOLD < 1.0
    assert "random_model" in vars(cls)
    assert cls.save_random_weights.__func__ is Detector.save_random_weights.__func__  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", list(DETECTOR_PLUGINS))
def test_detector_plugin_random_build_loads_and_scores(name: str, tmp_path: Path) -> None:
    """Tiny random weights in the plugin's real format make a valid spec (roles and options checked),
    load through the real `load_model`, and give one P(fake) in [0, 1] per image, the same twice."""
    spec = random_spec(name, tmp_path / "weights", seed=1)
    assert spec.random_weights
    images = [Image.new("RGB", (64, 48), (120, 30, 200)), Image.new("RGB", (40, 56), (10, 200, 90))]
    detector = build_detector(spec)
    first = detector.score(images, texts=["a photo", "a photo"])
    assert first.shape == (2,) and ((first >= 0) & (first <= 1)).all()
    assert (detector.score(images, texts=["a photo", "a photo"]) == first).all()


# --- generators and their families ------------------------------------------------------------------
@pytest.mark.parametrize("name", list(GENERATORS))
def test_generator_declarations(name: str) -> None:
    gen = GENERATORS[name]
    assert gen.family in FAMILIES
    assert gen.methods and set(gen.methods) <= set(METHODS)
    assert gen.hub_id.count("/") == 1 and gen.released_name
    assert gen.default_size > 0 and gen.default_size % gen.facts.sizing.multiple == 0
    assert gen.default_steps > 0 and gen.default_guidance >= 0


@pytest.mark.parametrize("name", list(FAMILIES))
def test_family_declarations(name: str) -> None:
    fam = FAMILIES[name]
    assert callable(fam.build_tiny)
    assert set(fam.pipelines) <= set(METHODS)
    assert set(fam.call_defaults) <= set(CALL_KEYWORDS)
    assert any(g.family == name for g in GENERATORS.values()), f"family {name!r} has no generator"


# --- source adapters, prompt backends, controls -----------------------------------------------------
@pytest.mark.parametrize("name", list(SOURCE_ADAPTERS))
def test_source_adapter_declarations(name: str) -> None:
    root = SOURCE_ADAPTERS[name].ROOT
    assert root is None or (isinstance(root, str) and root.strip())


@pytest.mark.parametrize(("registry", "name"), entries("LABEL_PERTURBERS", "CAPTIONERS", "CAPTION_REWRITERS"))
def test_prompt_backend_declarations(registry: str, name: str) -> None:
    """A backend's model role is one the model profiles know (or None: it runs on no model)."""
    role = REGISTRIES[registry][name].MODEL_ROLE
    assert role is None or role in ROLES, f"{registry}:{name} runs on unknown role {role!r} (known: {ROLES})"


@pytest.mark.parametrize("name", list(CONTROLS))
def test_control_declarations(name: str) -> None:
    control = CONTROLS[name]
    assert control.source in SOURCES and control.label in (0, 1)
    assert control.compared_with in ("real", "edits")
    assert callable(control.make) and control.noun.strip()
