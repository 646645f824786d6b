"""Workers cannot diverge from the run (issue 25 item 4): the run's storage root travels as a run tag
and steps use it; a worker whose other settings differ refuses in one line; an object-store endpoint
that is down is named (AWS_ENDPOINT_URL) at once."""

import json
import socket
import time

import pytest
import yaml
from dagster import DagsterInstance, asset, materialize

from resources import ProjectResource
from semitruths_dagster.config import ConfigError, load_config
from semitruths_dagster.deploy.run_settings import TAG_SETTINGS, TAG_STORAGE, check_run_settings, run_tags
from semitruths_dagster.storage.location import StorageError, check_endpoint


def write(path, storage, seed=0):
    path.write_text(yaml.safe_dump({"storage": {"root": str(storage)}, "sources": {"sample": {"adapter": "embedded"}},
                                    "seed": seed}))
    return path


def test_steps_use_the_run_storage_root_not_their_environment(tmp_path, monkeypatch):
    submitter = load_config(write(tmp_path / "a.yaml", tmp_path / "run-root"))
    worker_file = write(tmp_path / "b.yaml", tmp_path / "worker-root")  # same settings, other storage
    seen = {}

    @asset
    def where(project: ProjectResource) -> None:
        seen["root"] = project.config().storage_location

    with DagsterInstance.ephemeral() as instance:
        result = materialize([where], resources={"project": ProjectResource(config_path=str(worker_file))},
                             instance=instance, tags=run_tags(submitter))
    assert result.success and seen["root"] == tmp_path / "run-root"


def test_a_worker_with_other_settings_refuses_in_one_line(tmp_path):
    run = load_config(write(tmp_path / "a.yaml", tmp_path / "root"))
    worker = load_config(write(tmp_path / "b.yaml", tmp_path / "root", seed=7))
    check_run_settings(run, run_tags(run))  # the same settings pass
    with pytest.raises(ConfigError) as err:
        check_run_settings(worker, run_tags(run))
    assert "section(s) seed differ from the run's" in str(err.value) and "\n" not in str(err.value)
    assert set(json.loads(run_tags(run)[TAG_SETTINGS])) >= {"seed", "sources"}
    assert run_tags(run)[TAG_STORAGE] == str(tmp_path / "root")


def test_an_endpoint_that_is_down_is_named_at_once(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    start = time.monotonic()
    with pytest.raises(StorageError) as err:
        check_endpoint("s3://bucket/prefix")
    assert time.monotonic() - start < 5
    assert "AWS_ENDPOINT_URL" in str(err.value) and f"127.0.0.1:{port}" in str(err.value)
    check_endpoint("/a/local/folder")  # a local root has no endpoint to reach


def test_launch_script_tags_name_each_partition_dimension():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "launch.py"
    spec = importlib.util.spec_from_file_location("launch", path)
    launch = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(launch)
    assert launch.partition_tags("dataset_generator_pipeline", "sample|sd15") == {
        "dagster/partition": "sample|sd15", "dagster/partition/dataset": "sample",
        "dagster/partition/generator": "sd15"}
    assert launch.partition_tags("dataset_pipeline", "sample") == {"dagster/partition": "sample"}
    assert launch.partition_tags("cross_dataset", None) == {}
    with pytest.raises(SystemExit, match="one value per dimension"):
        launch.partition_tags("dataset_generator_pipeline", "sample")
