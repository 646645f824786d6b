"""Every key of semitruths.yaml is checked when the file is read: each broken on purpose, the cases generated
from the sections' own definitions (a new key is covered the moment it is declared)."""

from __future__ import annotations

import dataclasses
import importlib
import os
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest
import yaml

from semitruths_dagster.config import DEMO_ENV, ConfigError, load_config
from semitruths_dagster.schema import REGISTRIES, hints, registry_names
from semitruths_dagster.sections import SECTIONS, P2PSettings, SourceConfig, section_class

REPO = Path(__file__).resolve().parents[1]
MINIMAL = {"sources": {"sample": {"adapter": "embedded"}}}
WRONG_BY_KIND = {bool: "yes", int: "3", float: "high", str: 12, Path: 12, tuple: 5, list: 5, dict: [1, 2]}


def _kind(tp: typing.Any) -> type:
    """The Python kind a declared type wants (the first one that is not None)."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        return _kind(next(a for a in typing.get_args(tp) if a is not type(None)))
    return origin or tp


def wrong_value(tp: typing.Any) -> typing.Any:
    """A value of another kind than the field declares (never None: null is valid for optional keys)."""
    kind = _kind(tp)
    if kind not in WRONG_BY_KIND:  # a field typed Any (or a new kind) could not be checked: declare its type
        raise AssertionError(f"no wrong value for the type {tp!r}")
    return WRONG_BY_KIND[kind]


def write(tmp_path: Path, settings: dict) -> Path:
    path = tmp_path / "semitruths.yaml"
    path.write_text(yaml.safe_dump({**MINIMAL, **settings}))
    return path


def broken(tmp_path: Path, settings: dict) -> str:
    path = write(tmp_path, settings)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message.removeprefix(f"{path}: ")


def section_keys() -> list[tuple[str, str, typing.Any]]:
    cases = []
    for name in SECTIONS:
        cls = section_class(name)
        cases += [(name, f.name, hints(cls)[f.name]) for f in dataclasses.fields(cls) if f.init]
    cases += [("sources.sample", f.name, hints(SourceConfig)[f.name]) for f in dataclasses.fields(SourceConfig)
              if f.name not in ("name", "shard", "adapter")]
    return cases


@pytest.mark.parametrize(("section", "key", "tp"), section_keys(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_key_with_a_value_of_the_wrong_type_stops_naming_file_key_and_rule(tmp_path, section, key, tp):
    value = wrong_value(tp)
    if section.startswith("sources."):
        settings = {"sources": {"sample": {"adapter": "embedded", key: value}}}
    else:
        settings = {section: {key: value}}
    message = broken(tmp_path, settings)
    assert message.startswith(f"{section}.{key}") and "expected " in message, message


@pytest.mark.parametrize(("key", "tp"), [(f.name, hints(P2PSettings)[f.name]) for f in dataclasses.fields(P2PSettings)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_p2p_key_with_a_value_of_the_wrong_type_stops(tmp_path, key, tp):
    message = broken(tmp_path, {"generation": {"p2p": {key: wrong_value(tp)}}})
    assert message.startswith(f"generation.p2p.{key}: expected "), message


def test_p2p_params_are_the_one_definition_of_the_p2p_keys():
    from semitruths_dagster.generation.p2p.control import SELF_MAX_TOKENS
    from semitruths_dagster.generation.p2p.edit import P2PParams
    from semitruths_dagster.generation.settings import DTYPES
    from semitruths_dagster.schema import SettingError
    from semitruths_dagster.sections import P2P_DTYPES

    assert issubclass(P2PParams, P2PSettings) and not P2PParams.__dict__.get("__annotations__")
    assert dataclasses.asdict(P2PParams()) == dataclasses.asdict(P2PSettings())
    assert P2PParams().self_replace_max_tokens == SELF_MAX_TOKENS
    assert set(P2P_DTYPES) == {"pipeline", *DTYPES}  # the torch dtypes inversion can run in
    with pytest.raises(SettingError, match=r"generation\.p2p\.blend_threshold: must be <= 1.0"):
        P2PParams(blend_threshold=2.0)  # made in code: the same check


@pytest.mark.parametrize("section", [*SECTIONS, "sources.sample"])
def test_an_unknown_key_in_every_section_stops(tmp_path, section):
    if section.startswith("sources."):
        message = broken(tmp_path, {"sources": {"sample": {"adapter": "embedded", "colour": 1}}})
    else:
        message = broken(tmp_path, {section: {"colour": 1}})
    assert message.startswith(f"{section}.colour: unknown key (allowed: "), message


@pytest.mark.parametrize(("settings", "expected"), [
    # names from the registries
    ({"generation": {"generators": ["sd14", "sd99"]}}, "generation.generators[1]: unknown generator 'sd99' (known: sd14,"),
    ({"generation": {"overrides": {"sd99": "x/y"}}}, "generation.overrides.sd99: unknown generator 'sd99'"),
    ({"detectors": {"demo": ["npr", "nrp"]}}, "detectors.demo[1]: unknown detector plugin 'nrp' (known: "),
    ({"prompts": {"label_backend": "gpt"}}, "prompts.label_backend: unknown label perturber 'gpt' (known: "),
    ({"prompts": {"captioner": "git"}}, "prompts.captioner: unknown captioner 'git'"),
    ({"prompts": {"caption_backend": "gpt"}}, "prompts.caption_backend: unknown caption rewriter 'gpt'"),
    ({"prompts": {"magnitudes": ["huge"]}}, "prompts.magnitudes[0]: unknown magnitude 'huge'"),
    ({"controls": {"kinds": ["vae"]}}, "controls.kinds[0]: unknown control 'vae'"),
    ({"sources": {"s": {"adapter": "csv"}}}, "sources.s.adapter: unknown source adapter 'csv'"),
    ({"conditions": {"names": ["jpeg_q500"]}}, "conditions.names"),
    ({"conditions": {"names": ["jpeg_q75"], "per_detector": {"npr": ["webp_q75"]}}}, "conditions.per_detector.npr"),
    ({"conditions": {"per_detector": {"Bad Name": []}}}, "conditions.per_detector.Bad Name: not a detector name"),
    ({"conditions": {"per_detector": {"npr": "clean"}}}, "conditions.per_detector.npr: expected a list"),
    # generation.p2p: P2PSettings' keys, checked at load (not when p2p runs)
    ({"generation": {"p2p": {"cross_replace_step": 0.8}}}, "generation.p2p.cross_replace_step: unknown key"),
    ({"generation": {"p2p": {"cross_replace_steps": 1.5}}}, "generation.p2p.cross_replace_steps: must be <= 1.0"),
    ({"generation": {"p2p": {"self_replace_steps": [0.1, 2]}}}, "generation.p2p.self_replace_steps[1]: must be <="),
    ({"generation": {"p2p": {"self_replace_steps": [0.1]}}}, "generation.p2p.self_replace_steps: expected a number"),
    ({"generation": {"p2p": {"inversion_dtype": "half"}}}, "generation.p2p.inversion_dtype: 'half' is not one of pipeline,"),
    ({"generation": {"p2p": {"mode": "swap"}}}, "generation.p2p.mode: 'swap' is not one of auto, replace, refine"),
    ({"generation": {"p2p": {"null_lr": 0}}}, "generation.p2p.null_lr: must be > 0"),
    ({"generation": {"p2p": {"steps": 0}}}, "generation.p2p.steps: must be >= 1"),
    ({"generation": {"p2p": {"blend_words": ["cat"]}}}, "generation.p2p.blend_words: expected a list of 2"),
    ({"generation": {"tiny": {"p2p": {"null_inner_steps": -1}}}}, "generation.tiny.p2p.null_inner_steps: must be >= 0"),
    ({"generation": {"tiny": {"p2p": {"null_inner_stepz": 1}}}}, "generation.tiny.p2p.null_inner_stepz: unknown key"),
    # fixed choices
    ({"models": {"profile": "huge"}}, "models.profile: 'huge' is not one of paper, tiny"),
    ({"models": {"device": "gpu"}}, "models.device: expected auto, cpu, cuda, cuda:N or mps"),
    ({"models": {"dtype": "float8"}}, "models.dtype: 'float8' is not one of auto,"),
    ({"detectors": {"dtype": "fp16"}}, "detectors.dtype: 'fp16' is not one of authors, float32, float16, bfloat16"),
    ({"execution": {"executor": "slurm"}}, "execution.executor: 'slurm' is not one of multiprocess"),
    ({"models": {"device": "cpu"}, "detectors": {"dtype": "float16"}}, "detectors.dtype: float16 on the CPU"),
    ({"generation": {"methods": ["sketch"]}}, "generation.methods[0]: 'sketch' is not one of"),
    ({"prompts": {"edit_mode": "swap"}}, "prompts.edit_mode: 'swap' is not one of"),
    ({"saliency": {"thresholds": "fixed"}}, "saliency.thresholds: 'fixed' is not one of"),
    # ranges
    ({"masks": {"min_area_ratio": 1.5}}, "masks.min_area_ratio: must be <= 1.0, got 1.5"),
    ({"generation": {"steps": 0}}, "generation.steps: must be >= 1, got 0"),
    ({"generation": {"chunk_size": -2}}, "generation.chunk_size: must be >= 1"),
    ({"detectors": {"target_fpr": 1.0}}, "detectors.target_fpr: must be < 1.0"),
    ({"detectors": {"crop_threshold": 0}}, "detectors.crop_threshold: must be > 0.0"),
    ({"detectors": {"batch_size": 0}}, "detectors.batch_size: must be >= 1"),
    ({"prompts": {"text_sim_percentiles": [5, 101]}}, "prompts.text_sim_percentiles[1]: must be <= 100.0"),
    ({"prompts": {"text_sim_percentiles": [5]}}, "prompts.text_sim_percentiles: expected a list of 2"),
    ({"saliency": {"black_threshold": 300}}, "saliency.black_threshold: must be <= 255"),
    ({"controls": {"limit": 0}}, "controls.limit: must be >= 1"),
    ({"sources": {"s": {"adapter": "embedded", "shards": 0}}}, "sources.s.shards: must be >= 1"),
    ({"seed": -1}, "seed: expected a whole number >= 0"),
    ({"seed": True}, "seed: expected a whole number >= 0"),
    ({"detectors": {"schedule": "nightly"}}, "detectors.schedule: expected a cron of 5 fields"),
    # nested and overlaid settings
    ({"generation": {"tiny": {"stepz": 2}}}, "generation.tiny.stepz: unknown key"),
    ({"generation": {"tiny": {"steps": "2"}}}, "generation.tiny.steps: expected a whole number"),
    ({"demo": {"generation": {"max_per_method": -1}}}, "generation.max_per_method: must be >= 0"),
    ({"demo": {"detectorz": {"demo": []}}}, "demo.detectorz: not a section with settings"),
    ({"execution": {"gpu_tolerations": [1]}}, "execution.gpu_tolerations[0]: expected a mapping"),
    ({"models": {"overrides": {"clip": 3}}}, "models.overrides.clip: expected a string"),
    ({"models": {"overrides": {"clipp": "x/y"}}}, "models.overrides.clipp: unknown model role 'clipp' (known: vlm,"),
    # the whole file
    ({"detector": {"dtype": "float32"}}, "detector: unknown section (known: "),
    ({"masks": [1]}, "masks: expected a mapping"),
    ({"sources": {}}, "sources: must map at least one dataset"),
    ({"storage": {"root": "nosuch://host/x"}}, "storage.root: unknown URL scheme 'nosuch'"),
])
def test_names_ranges_and_structure_are_checked_at_load(tmp_path, settings, expected):
    message = broken(tmp_path, settings)
    assert message.startswith(expected), message


def test_the_profile_has_one_place_and_the_old_ones_point_to_it(tmp_path):
    message = broken(tmp_path, {"generation": {"profile": "paper"}})
    assert message == "generation.profile: not settable here: set models.profile (its one place)"
    from resources import GpuResource, ModelsResource

    assert not {"profile", "dtype", "device"} & set(ModelsResource.model_fields)  # the file's models.* only
    assert "device" not in GpuResource.model_fields  # models.device is the one device


def test_the_project_file_and_its_demo_overlay_load_typed(monkeypatch):
    config = load_config(REPO / "semitruths.yaml")
    assert set(config.sections) == set(SECTIONS)
    for name, parsed in config.sections.items():
        assert isinstance(parsed, section_class(name))
        assert config.params(name, section_class(name)) is parsed  # every stage reads what the load checked
    assert config.sections["detectors"].dtype == "authors"
    monkeypatch.setenv(DEMO_ENV, "1")
    demo = load_config(REPO / "semitruths.yaml")
    assert demo.sections["generation"].max_per_method == 1 and demo.sections["controls"].limit == 1


def test_a_section_made_in_code_is_checked_too():
    from semitruths_dagster.schema import SettingError
    from semitruths_dagster.sections import GenerationParams

    assert GenerationParams(generators=["sd14"]).generators == ("sd14",)  # lists become tuples
    with pytest.raises(SettingError, match=r"generation\.generators\[0\]: unknown generator 'sd0'"):
        GenerationParams(generators=("sd0",))


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_registry_names_read_without_importing_equal_the_registry(kind):
    module, attribute = REGISTRIES[kind][0].split(":")
    registry = getattr(importlib.import_module(module), attribute)
    assert sorted(registry_names(kind)) == sorted(registry)


def test_defaults_are_the_registries_own():
    from semitruths_dagster.controls.kinds import CONTROLS
    from semitruths_dagster.generation.registry import PAPER_GENERATORS
    from semitruths_dagster.prompts.taxonomy import MAGNITUDES
    from semitruths_dagster.sections import ControlParams, GenerationParams, PromptParams

    assert GenerationParams().generators == PAPER_GENERATORS
    assert PromptParams().magnitudes == MAGNITUDES and ControlParams().kinds == tuple(CONTROLS)


def test_the_configuration_modules_import_no_heavy_library():
    code = ("import sys, semitruths_dagster.config; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('torch', 'numpy', 'polars', 'PIL', 'transformers', 'diffusers', 'sklearn', 'dagster')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_the_cli_checks_the_file_before_any_command_runs(tmp_path, monkeypatch):
    from semitruths_dagster.cli import main

    path = write(tmp_path, {"detectors": {"dtype": "half"}, "storage": {"root": str(tmp_path / "storage")}})
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(path))
    with pytest.raises(SystemExit) as err:
        main(["warehouse"])
    assert str(err.value) == f"semitruths: {path}: detectors.dtype: 'half' is not one of authors, float32, float16, bfloat16"
    assert not (tmp_path / "storage").exists()  # nothing ran


def test_the_code_location_does_not_load_with_a_broken_file(tmp_path):
    path = write(tmp_path, {"generation": {"steps": 0}})
    env = {**os.environ, "SEMITRUTHS_CONFIG": str(path)}
    out = subprocess.run([sys.executable, "-c", "import semitruths_dagster.definitions"], capture_output=True,
                         text=True, cwd=REPO, env=env)
    assert out.returncode != 0
    assert f"ConfigError: {path}: generation.steps: must be >= 1, got 0" in out.stderr.splitlines()[-1]
