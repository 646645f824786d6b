"""Configuration rules and path containment, each broken on purpose."""

from __future__ import annotations

import pytest

from semitruths_dagster.config import ConfigError, load_config
from semitruths_dagster.paths import PathEscapesRoot, resolve_inside
from semitruths_dagster.sources.standardized import parse_list


def write(tmp_path, text: str):
    path = tmp_path / "semitruths.yaml"
    path.write_text(text)
    return path


def test_defaults_env_expansion_and_relative_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.delenv("SEMITRUTHS_STORAGE", raising=False)
    cfg = load_config(write(tmp_path, "sources:\n  a: {adapter: standardized, root: '${DATA_ROOT}/x'}\n"
                                      "storage:\n  root: ${SEMITRUTHS_STORAGE:-out}\n"))
    assert cfg.sources["a"].root == tmp_path / "data" / "x"
    assert cfg.storage_root == tmp_path / "out"
    assert cfg.masks.min_area_ratio == 0.05 and cfg.masks.mode_filter_size == 9
    assert cfg.models.profile == "tiny"


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("sources: {}\n", "sources: must map at least one dataset"),
        ("sources:\n  'a b': {adapter: embedded}\n", "sources.a b"),
        ("sources:\n  a: {root: x}\n", "needs at least an 'adapter'"),
        ("sources:\n  a: {adapter: embedded}\nmasks: {min_area: 0.1}\n", "masks.min_area: unknown key (allowed: min_area_ratio"),
        ("sources: [\n", "not valid YAML"),
    ],
)
def test_broken_configuration_names_file_and_key(tmp_path, text, needle):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert needle in str(err.value) and str(path) in str(err.value)


def test_unknown_adapters_explain_themselves_at_load_and_benchmark_formats_load(tmp_path):
    config = load_config(write(tmp_path, "sources:\n  a: {adapter: cityscapes, root: /data/cityscapes}\n"))
    assert config.source("a").adapter == "cityscapes"
    with pytest.raises(ConfigError, match=r"sources\.b\.adapter: unknown source adapter 'nope' \(known: "):
        load_config(write(tmp_path, "sources:\n  b: {adapter: nope}\n"))



def test_paths_stay_inside_their_root(tmp_path):
    root = tmp_path / "root"
    (root / "sub").mkdir(parents=True)
    (tmp_path / "secret.png").write_bytes(b"x")
    (root / "link.png").symlink_to(tmp_path / "secret.png")
    assert resolve_inside(root, "sub/a.png") == (root / "sub" / "a.png").resolve()
    for bad in ("../secret.png", "sub/../../secret.png", "/etc/passwd", "link.png"):
        with pytest.raises(PathEscapesRoot):
            resolve_inside(root, bad)


def test_list_columns_parse_without_evaluating_code():
    assert parse_list("['sky', 'tree']") == ["sky", "tree"]
    assert parse_list("person") == ["person"]
    assert parse_list("") == []
    with pytest.raises(ValueError):
        parse_list("[__import__('os').system('echo pwned')]")
    with pytest.raises(ValueError):
        parse_list("[1, 2]")
