"""The layers hold: no import circle anywhere, between modules or between packages, and imports point
only down the layers (`LAYERS`: the code location -> assets -> resources -> the command line ->
deployment -> stages -> models -> random-weight builders -> ... -> leaf helpers; the library imports Dagster only in definitions.py). Read from
the source with `ast`, so imports inside functions count too, and so do a package's lazy exports
(`_EXPORTS`, see `semitruths_dagster.common.lazy_exports`). Loading the code location imports no model
library (checked in a fresh process)."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("semitruths_dagster", "assets", "resources")
# Units of the package graph, lowest layer first. A unit is `assets`, `resources`, or a top-level module
# or subpackage of the library. A unit may import units of lower layers and, within the stages layer,
# other stages (without a cycle); nothing imports upwards.
LAYERS: tuple[tuple[str, frozenset[str]], ...] = tuple((name, frozenset(units)) for name, units in (
    ("leaf helpers", {"semitruths_dagster", "common", "paths", "devices", "console", "methods", "registry", "disk_full",
                      "png_integrity", "published_configs", "schema", "label_sets"}),
    ("foundations", {"validation", "storage", "hub", "conditions"}),
    ("loading checks", {"load_checks"}),
    ("configuration sections", {"sections"}),
    ("configuration", {"config"}),
    ("provenance", {"provenance"}),
    ("random-weight builders", {"random_weights"}),
    ("models", {"models"}),
    ("stages", {"sources", "masks", "quarantine", "prompts", "generation", "controls", "metrics", "detectors",
                "evaluation", "localization"}),
    ("table docs and report server", {"columns", "report_server"}),
    ("deployment", {"deploy"}),
    ("command line", {"cli"}),
    ("resources", {"resources"}),
    ("assets", {"assets"}),
    ("code location", {"definitions"}),
))
PEERS_MAY_IMPORT = {"stages"}  # within these layers units import each other (acyclic: the cycle test)
MODEL_LIBRARIES = ("torch", "transformers", "diffusers", "timm", "open_clip", "sklearn")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> project modules it imports (the most specific module an import names)."""
    files = {_module_name(p): p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(package, node.module or "", node.level)
                # `from pkg import mod` imports the module; `from mod import name` the module itself.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            elif _is_lazy_exports(node):  # a package's lazy exports: imports on first use
                targets = [_absolute(package, key.value.lstrip("."), len(key.value) - len(key.value.lstrip(".")))
                           for key in node.value.keys]
            else:
                continue
            edges |= {t for t in targets if t in files and t != name}
        graph[name] = edges
    return graph


def _absolute(package: str, module: str, level: int) -> str:
    if not level:
        return module
    anchor = package.split(".")[: len(package.split(".")) - level + 1]
    return ".".join(anchor + ([module] if module else []))


def _is_lazy_exports(node: ast.AST) -> bool:
    return (isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == ["_EXPORTS"]
            and isinstance(node.value, ast.Dict))


def unit(module: str) -> str:
    """The package-graph unit of a module: `assets`, `resources`, or the library's top-level module or
    subpackage (`semitruths_dagster.generation.p2p.edit` -> `generation`)."""
    parts = module.split(".")
    if parts[0] != "semitruths_dagster":
        return parts[0]
    return parts[1] if len(parts) > 1 else parts[0]


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Unit -> the other units its modules import."""
    units: dict[str, set[str]] = {}
    for module, targets in graph.items():
        units.setdefault(unit(module), set()).update(unit(t) for t in targets)
    return {u: targets - {u} for u, targets in units.items()}


def layer_of(name: str) -> int:
    found = [i for i, (_, units) in enumerate(LAYERS) if name in units]
    assert len(found) == 1, f"unit '{name}' must be in exactly one of LAYERS (tests/test_architecture.py)"
    return found[0]


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports from a unit to a unit of a higher layer (or a peer, outside PEERS_MAY_IMPORT), with the
    modules that make them."""
    found = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            source, dest = unit(module), unit(target)
            if source == dest:
                continue
            low, high = layer_of(dest), layer_of(source)
            if low > high or (low == high and LAYERS[low][0] not in PEERS_MAY_IMPORT):
                found.append(f"{module} -> {target} ({LAYERS[high][0]} -> {LAYERS[low][0]})")
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_circles():
    assert cycles(import_graph()) == []


def test_no_circles_between_packages():
    assert cycles(package_graph(import_graph())) == []


def test_every_unit_has_a_layer():
    for name in package_graph(import_graph()):
        layer_of(name)


def test_imports_follow_the_layers():
    assert layer_violations(import_graph()) == []


def test_lazy_exports_name_what_their_modules_define():
    for init in (REPO / "semitruths_dagster").rglob("__init__.py"):
        for node in ast.parse(init.read_text()).body:
            if not _is_lazy_exports(node):
                continue
            for key, names in zip(node.value.keys, node.value.values, strict=True):
                level = len(key.value) - len(key.value.lstrip("."))
                module = init.parent.joinpath(*[".."] * (level - 1), *key.value.lstrip(".").split("."))
                path = module / "__init__.py" if module.is_dir() else module.with_suffix(".py")
                defined = _top_level_names(path)
                for name in (n.value for n in names.elts):
                    assert name in defined, f"{init}: '{name}' is not defined in {path}"


def _top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        if isinstance(node, ast.Import | ast.ImportFrom):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        if _is_lazy_exports(node):  # a package re-exporting another package's lazy exports
            names |= {n.value for value in node.value.values for n in value.elts}
    return names


def test_the_code_location_loads_without_model_libraries(tmp_path):
    """`dagster asset list` on the code location, and the configuration, in a fresh process: no model
    library is imported (each step imports what it uses)."""
    probe = (
        "import atexit, json, sys\n"
        f"atexit.register(lambda: print(json.dumps([m for m in {MODEL_LIBRARIES!r} if m in sys.modules])))\n"
        "from semitruths_dagster.config import load_config\n"
        "load_config()\n"
        "from dagster._cli import main\n"
        "sys.argv = ['dagster', 'asset', 'list', '-m', 'semitruths_dagster.definitions']\n"
        "main()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO), DAGSTER_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    lines = out.stdout.strip().splitlines()
    assert "detector_predictions" in lines, out.stdout  # the code location did load
    assert json.loads(lines[-1]) == []


def test_imports_point_from_assets_to_resources_to_the_library():
    graph = import_graph()
    for module, targets in graph.items():
        if module.startswith("resources"):
            assert not any(t.startswith("assets") for t in targets), module
        if module.startswith("semitruths_dagster") and module != "semitruths_dagster.definitions":
            assert not any(t.startswith(("assets", "resources")) for t in targets), module


def test_the_library_imports_dagster_only_in_definitions():
    for path in (REPO / "semitruths_dagster").rglob("*.py"):
        if path.name == "definitions.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            assert not any(n.split(".")[0] == "dagster" for n in names), path


def test_the_checker_finds_a_circle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_checker_finds_imports_against_the_layers():
    graph = {"semitruths_dagster.conditions": {"semitruths_dagster.prompts.records"},
             "semitruths_dagster.prompts.records": set(), "assets.demo_run": {"semitruths_dagster.definitions"},
             "semitruths_dagster.deploy.check": {"semitruths_dagster.cli"}, "semitruths_dagster.generation.stage":
             {"semitruths_dagster.metrics.saliency"}, "semitruths_dagster.masks": {"semitruths_dagster.masks"}}
    assert layer_violations(graph) == [
        "assets.demo_run -> semitruths_dagster.definitions (assets -> code location)",
        "semitruths_dagster.conditions -> semitruths_dagster.prompts.records (foundations -> stages)",
        "semitruths_dagster.deploy.check -> semitruths_dagster.cli (deployment -> command line)",
    ]
    assert package_graph(graph)["conditions"] == {"prompts"}
