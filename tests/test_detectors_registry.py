"""The detector registry: YAML specs, validation errors that name file and key, adding a spec."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from semitruths_dagster.detectors import (
    DETECTOR_PLUGINS,
    SpecError,
    add_spec,
    load_registry,
    load_spec,
    resolve_weight_ref,
    write_random_detector,
)

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "name": "ufd",
    "plugin": "universal_fake_detect",
    "version": "1",
    "weights": {"backbone": "open_clip:ViT-L-14/openai", "head": "weights/fc_weights.pth"},
}


def _write(folder: Path, data, name: str = "spec.yaml") -> Path:
    path = folder / name
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return path


def test_shipped_registry_validates():
    specs = load_registry(REPO / "detectors")
    assert {"ufd", "cnnspot", "commfor", "commfor-224", "npr", "defake", "c2p-clip", "rine", "safe", "clip-probe"} <= set(specs)
    assert {s.plugin for s in specs.values()} == set(DETECTOR_PLUGINS)
    assert not any(s.random_weights or s.allow_pickle for s in specs.values())


@pytest.mark.parametrize(
    ("change", "key", "message"),
    [
        ({"plugin": None}, "plugin", "missing"),
        ({"plugin": "nope"}, "plugin", "unknown plugin 'nope'"),
        ({"name": "Bad Name"}, "name", "must match"),
        ({"weights": {"backbone": "x"}}, "weights.head", "missing"),
        ({"weights": {**GOOD["weights"], "extra": "x"}}, "weights.extra", "unknown role"),
        ({"options": {"crop": "224"}}, "options.crop", "expected the centre crop side"),
        ({"options": {"cropp": 224}}, "options.cropp", "unknown option"),
        ({"threshold": 1.5}, "threshold", "outside [0, 1]"),
        ({"threshold": True}, "threshold", "expected a number"),
        ({"random_weights": "yes"}, "random_weights", "expected true or false"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_validation_errors_name_file_and_key(tmp_path, change, key, message):
    data = {k: v for k, v in (GOOD | change).items() if v is not None}
    path = _write(tmp_path, data)
    with pytest.raises(SpecError) as err:
        load_spec(path)
    assert str(err.value).startswith(f"{path}: key '{key}':")
    assert message in str(err.value)
    assert err.value.key == key


def test_layers_option_checked_by_plugin(tmp_path):
    data = {
        "name": "c",
        "plugin": "cnnspot",
        "version": 1,
        "weights": {"model": "m.pth"},
        "options": {"layers": [1, 2]},
    }
    with pytest.raises(SpecError, match=r"key 'options.layers': expected 4 positive integers"):
        load_spec(_write(tmp_path, data))


def test_invalid_yaml_and_duplicates(tmp_path):
    bad = _write(tmp_path, "name: [unclosed", "bad.yaml")
    with pytest.raises(SpecError, match="bad.yaml: key '<root>': not valid YAML"):
        load_spec(bad)
    bad.unlink()
    _write(tmp_path, GOOD, "a.yaml")
    _write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(SpecError, match=r"b\.yaml: key 'name': 'ufd' is also defined in .*a\.yaml"):
        load_registry(tmp_path)


def test_add_spec_validates_writes_and_refuses_duplicates(tmp_path):
    path = add_spec(tmp_path, GOOD)
    assert path == tmp_path / "ufd.yaml"
    spec = load_spec(path)
    assert spec.weights == GOOD["weights"] and spec.version == "1" and spec.random_weights is False
    with pytest.raises(SpecError, match="already exists"):
        add_spec(tmp_path, GOOD)
    add_spec(tmp_path, GOOD | {"version": "2"}, overwrite=True)
    assert load_spec(path).version == "2"
    with pytest.raises(SpecError, match="key 'plugin'"):
        add_spec(tmp_path, GOOD | {"name": "other", "plugin": "nope"})
    assert not (tmp_path / "other.yaml").exists()


def test_weight_refs_resolve_local_or_hub(tmp_path):
    (tmp_path / "w.pth").write_bytes(b"")
    assert resolve_weight_ref("w.pth", tmp_path) == ("local", str((tmp_path / "w.pth").resolve()))
    assert resolve_weight_ref("OwensLab/commfor-model-384", tmp_path) == ("hub", "OwensLab/commfor-model-384")
    assert resolve_weight_ref("open_clip:ViT-L-14/openai", tmp_path)[0] == "hub"
    assert resolve_weight_ref("weights/missing.pth", tmp_path)[0] == "local"


def test_write_random_detector_marks_spec(tmp_path):
    path = write_random_detector("npr", tmp_path / "registry", tmp_path / "weights")
    spec = load_spec(path)
    assert spec.random_weights is True and spec.plugin == "npr" and Path(spec.weights["model"]).is_file()
    assert write_random_detector("npr", tmp_path / "registry", tmp_path / "weights") == path  # idempotent
