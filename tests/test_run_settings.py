"""Workers cannot diverge from the run (issue 25 item 4): on every executor the run's orchestrator records
its resolved settings as run tags and steps build theirs from them (a worker whose own differ says so in
one line; one without the run's storage fails in one line); an object-store endpoint that is down is
named (AWS_ENDPOINT_URL) at once."""

import json
import logging
import os
import socket
import time
from pathlib import Path

import pytest
import yaml
from dagster import (
    DagsterInstance,
    Definitions,
    ReexecutionOptions,
    asset,
    define_asset_job,
    execute_job,
    instance_for_test,
    materialize,
    reconstructable,
)

from assets import placement
from assets.placement import executor
from resources import ProjectResource
from semitruths_dagster.config import ConfigError, load_config
from semitruths_dagster.deploy import ExecutionParams
from semitruths_dagster.deploy.run_settings import (
    PIECE_CHARS,
    TAG_PIECES,
    TAG_SETTINGS,
    TAG_STORAGE,
    config_from_run,
    differing_sections,
    recorded_from_tags,
    run_tags,
)
from semitruths_dagster.storage.location import StorageError, check_endpoint


def write(path, storage, seed=0):
    path.write_text(yaml.safe_dump({"storage": {"root": str(storage)}, "sources": {"sample": {"adapter": "embedded"}},
                                    "seed": seed}))
    return path


# The config_path of the `project` resource of the jobs below (read again in each step's process).
JOB_CONFIG = "SEMITRUTHS_TEST_RUN_CONFIG"


def _seen(name: str, project: ProjectResource) -> None:
    """What a step saw, written beside the run's file (steps may run in processes of their own)."""
    seen = {"seed": project.config().seed, "root": str(project.config().storage_location)}
    (Path(os.environ[JOB_CONFIG]).parent / f"{name}.json").write_text(json.dumps(seen))


@asset
def first(project: ProjectResource) -> None:
    """Sees the run's settings, then edits the run's file as someone might while a long run goes on."""
    _seen("first", project)
    path = project.config().path
    path.write_text(path.read_text().replace("seed: 1", "seed: 2"))


@asset(deps=[first])
def second(project: ProjectResource) -> None:
    _seen("second", project)


def _job(kind: str):
    return Definitions(assets=[first, second], jobs=[define_asset_job("settings_job")],
                       resources={"project": ProjectResource(config_path=os.environ[JOB_CONFIG])},
                       executor=executor(ExecutionParams(executor=kind, max_concurrent=2))  # `configured` too
                       ).resolve_job_def("settings_job")


def in_process_job():
    return _job("in_process")


def multiprocess_job():
    return _job("multiprocess")


@pytest.mark.parametrize("job_fn", [in_process_job, multiprocess_job])
def test_the_run_records_its_settings_and_every_step_uses_them(job_fn, tmp_path, monkeypatch):
    # The job's own project resource names run.yaml; this process's environment names another file.
    run_file = write(tmp_path / "run.yaml", tmp_path / "run-root", seed=1)
    monkeypatch.setenv(JOB_CONFIG, str(run_file))
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(write(tmp_path / "env.yaml", tmp_path / "env-root", seed=9)))
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        with execute_job(reconstructable(job_fn), instance=instance) as result:
            assert result.success
        seen = [json.loads((tmp_path / f"{name}.json").read_text()) for name in ("first", "second")]
        tags = instance.get_run_by_id(result.run_id).tags
    recorded = recorded_from_tags(tags)
    assert tags[TAG_STORAGE] == str(tmp_path / "run-root") and recorded["path"] == str(run_file)
    assert recorded["settings"]["seed"] == 1 and recorded["settings"]["storage"] == {"root": str(tmp_path / "run-root")}
    # The file was edited by the first step: the second (its own process when multiprocess) keeps the run's.
    assert seen == [{"seed": 1, "root": str(tmp_path / "run-root")}] * 2
    assert "seed: 2" in run_file.read_text()


def test_a_re_execution_records_its_own_orchestrators_settings(tmp_path, monkeypatch):
    run_file = write(tmp_path / "run.yaml", tmp_path / "run-root", seed=1)
    monkeypatch.setenv(JOB_CONFIG, str(run_file))
    (tmp_path / "home").mkdir()
    with instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        with execute_job(reconstructable(in_process_job), instance=instance) as parent:
            assert parent.success  # its first step left seed: 2 in the file
        options = ReexecutionOptions(parent_run_id=parent.run_id, step_selection=["second"])
        with execute_job(reconstructable(in_process_job), instance=instance, reexecution_options=options) as again:
            assert again.success
        tags = instance.get_run_by_id(again.run_id).tags
    assert recorded_from_tags(tags)["settings"]["seed"] == 2
    assert json.loads((tmp_path / "second.json").read_text())["seed"] == 2


@pytest.mark.parametrize("kind", ["in_process", "multiprocess", "celery", "k8s"])
def test_every_executor_is_wrapped_under_its_own_name_and_requirements(kind):
    params = ExecutionParams(executor=kind, max_concurrent=2)
    wrapped, inner = executor(params), placement._chosen(params)
    assert wrapped.name == inner.name == kind
    assert wrapped.get_requirements({}) == inner.get_requirements({})
    assert wrapped.config_schema.as_field().config_type.key == inner.config_schema.as_field().config_type.key


def test_a_step_uses_the_run_settings_not_its_environment_and_says_so(tmp_path, monkeypatch):
    (tmp_path / "run-root").mkdir()
    submitter = load_config(write(tmp_path / "a.yaml", tmp_path / "run-root", seed=3))
    tags = run_tags(submitter)
    # This worker's environment: another file, another storage root (SEMITRUTHS_STORAGE), another seed.
    monkeypatch.setenv("SEMITRUTHS_CONFIG", str(write(tmp_path / "b.yaml", "${SEMITRUTHS_STORAGE}", seed=7)))
    monkeypatch.setenv("SEMITRUTHS_STORAGE", str(tmp_path / "worker-root"))
    seen = {}

    @asset
    def where(project: ProjectResource) -> None:
        seen.update(root=project.config().storage_location, seed=project.config().seed, path=project.config().path)

    with DagsterInstance.ephemeral() as instance:
        result = materialize([where], resources={"project": ProjectResource()}, instance=instance, tags=tags)
        warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == logging.WARNING]
    assert result.success and seen == {"root": tmp_path / "run-root", "seed": 3, "path": tmp_path / "a.yaml"}
    line = [w for w in warnings if "differs from the run's" in w]
    assert line and "section(s) seed, storage;" in line[0] and "\n" not in line[0]


def test_a_worker_without_the_run_storage_fails_the_step_in_one_line(tmp_path):
    run = load_config(write(tmp_path / "a.yaml", tmp_path / "not-here"))

    @asset
    def where(project: ProjectResource) -> None:
        project.config()

    with DagsterInstance.ephemeral() as instance:
        result = materialize([where], resources={"project": ProjectResource(config_path=str(tmp_path / "a.yaml"))},
                             instance=instance, tags=run_tags(run), raise_on_error=False)
        failed = [e.dagster_event.event_specific_data.error for e in instance.all_logs(result.run_id)
                  if e.dagster_event and e.dagster_event.event_type_value == "RESOURCE_INIT_FAILURE"]
    assert not result.success and failed
    message = (failed[0].cause or failed[0]).message.strip()  # the step's `project` resource could not start
    assert message.startswith(f"semitruths_dagster.config.ConfigError: storage root {tmp_path / 'not-here'} of "
                              f"this run (run tag {TAG_STORAGE}) does not exist on host {socket.gethostname()}")
    assert "\n" not in message


def test_settings_from_the_run_keep_this_hosts_cache_and_resolve_against_the_run_file(tmp_path):
    run_file = tmp_path / "run" / "semitruths.yaml"
    run_file.parent.mkdir()
    run_file.write_text(yaml.safe_dump({"storage": {"root": "s3://bucket/run", "cache": "run-cache"},
                                        "sources": {"s": {"adapter": "standardized", "root": "data"}}}))
    worker_file = write(tmp_path / "worker.yaml", tmp_path / "root")
    worker_file.write_text(worker_file.read_text() + "  cache: my-cache\n")
    run, own = load_config(run_file), load_config(worker_file)
    got = config_from_run(run_tags(run), own)
    assert got.storage_url == "s3://bucket/run" and got.storage_root == tmp_path / "my-cache"
    assert got.source("s").root == tmp_path / "run" / "data" and got.path == run_file
    assert "run-cache" not in run_tags(run)[TAG_SETTINGS]
    assert differing_sections(got, own) == ["sources", "storage"]
    assert config_from_run({TAG_STORAGE: "/x"}, own) is None  # a run from before: its root only


def test_long_settings_travel_in_pieces_that_fit_the_run_tag_index(tmp_path):
    path = write(tmp_path / "a.yaml", tmp_path / "root")
    many = {f"s{i}": {"adapter": "embedded", "description": f"source {i} " * 40} for i in range(20)}
    path.write_text(yaml.safe_dump({**yaml.safe_load(path.read_text()), "sources": many}))
    config = load_config(path)
    tags = run_tags(config)
    count = int(tags[TAG_PIECES])
    assert count > 2 and all(len(tags[f"{TAG_SETTINGS}/{i}"]) <= PIECE_CHARS for i in range(1, count))
    assert len(tags[TAG_SETTINGS]) == PIECE_CHARS
    stale = {**tags, f"{TAG_SETTINGS}/{count}": "left by a run re-executed here"}
    assert config_from_run(stale, None).sources == config.sources
    del stale[f"{TAG_SETTINGS}/1"]
    with pytest.raises(ConfigError, match=f"lack run tag\\(s\\) {TAG_SETTINGS}/1 "):
        config_from_run(stale, None)


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
