"""The CLI as a user runs it: real `dagster` processes, a persistent DAGSTER_HOME, concurrent partitions."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance

from tests.conftest import REPO, TEST_CONFIG

pytestmark = pytest.mark.slow  # subprocesses through Dagster's CLI, the whole demo

BIN = Path(sys.executable).parent


def env_for(tmp_path: Path, config: Path | None) -> dict[str, str]:
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path / "dagster_home"), SEMITRUTHS_STORAGE=str(tmp_path / "storage"))
    env.pop("SEMITRUTHS_CONFIG", None)
    if config:
        env["SEMITRUTHS_CONFIG"] = str(config)
    return env


def test_demo_materializes_the_embedded_sample(tmp_path):
    env = env_for(tmp_path, None)  # the repository's own semitruths.yaml
    out = subprocess.run([BIN / "semitruths", "demo"], env=env, cwd=REPO, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "Demo finished" in out.stdout and "semitruths ui" in out.stdout
    with duckdb.connect(str(tmp_path / "storage" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM source_images WHERE dataset = 'sample'").fetchone()[0] >= 4
        assert con.execute("SELECT count(*) FROM masks WHERE eligible").fetchone()[0] >= 4
        magnitudes = con.execute("SELECT DISTINCT magnitude FROM perturbed_prompts WHERE valid").fetchall()
        assert sorted(m for (m,) in magnitudes) == ["large", "medium", "small"]
        kept = con.execute("SELECT count(*) FROM prompt_filters WHERE kept").fetchone()[0]
        assert kept > 0
        methods = con.execute("SELECT DISTINCT method FROM generations").fetchall()
        assert sorted(m for (m,) in methods) == ["inpainting", "p2p"]
        generators = con.execute("SELECT count(DISTINCT generator) FROM generations").fetchone()[0]
        assert generators == 5
        for table in ("saliency_labels", "change_metrics", "bins"):
            assert con.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == con.execute(
                "SELECT count(*) FROM generations").fetchone()[0], table
    # The runs are recorded in the persistent instance that `dagster dev` reads.
    assert (tmp_path / "dagster_home" / "dagster.yaml").resolve() == (REPO / "dagster.yaml").resolve()
    assert any((tmp_path / "dagster_home").rglob("*.db"))
    # ... with the code location's origin, so that the UI's Overview lists them under `semitruths`.
    runs = DagsterInstance.from_config(str(tmp_path / "dagster_home")).get_runs()
    assert runs and {r.remote_job_origin.repository_origin.code_location_origin.location_name for r in runs} \
        == {"semitruths"}


def test_partitions_materialize_concurrently_without_lock_errors(tmp_path, shared_sample):
    env = env_for(tmp_path, TEST_CONFIG)
    datasets = ["ADE20K", "CityScapes", "SUN_RGBD", "OpenImages"]
    # As a user would: `semitruths env` prepares DAGSTER_HOME (with the project's dagster.yaml).
    printed = subprocess.run([BIN / "semitruths", "env"], env=env, capture_output=True, text=True, check=True)
    assert printed.stdout.strip() == f"export DAGSTER_HOME={env['DAGSTER_HOME']}"

    def materialize(dataset: str) -> subprocess.CompletedProcess:
        cmd = [BIN / "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
               "--select", "source_images,masks", "--partition", dataset]
        return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=600)

    with ThreadPoolExecutor(len(datasets)) as pool:
        results = list(pool.map(materialize, datasets))
    for result in results:
        assert result.returncode == 0, result.stderr[-3000:]
        assert "Could not set lock" not in result.stderr  # DuckDB's message when a file is held
    with duckdb.connect(str(tmp_path / "storage" / "warehouse.duckdb"), read_only=True) as con:
        counts = dict(con.execute("SELECT dataset, count(*) FROM source_images GROUP BY ALL").fetchall())
    assert counts == {"ADE20K": 2, "CityScapes": 3, "SUN_RGBD": 2, "OpenImages": 1}


def test_a_multiprocess_run_loads_each_step_in_its_own_process(tmp_path):
    """The multiprocess executor: every step in a fresh process that loads the torch-free code location
    and imports its models inside the step (perturbed_prompts' backends import torch there)."""
    config = tmp_path / "semitruths.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"root": str(tmp_path / "storage")}, "sources": {"sample": {"adapter": "embedded"}},
        "prompts": {"magnitudes": ["small"], "score_with_clip": False}, "execution": {"executor": "multiprocess"},
    }))
    env = env_for(tmp_path, config)
    env.pop("SEMITRUTHS_STORAGE")
    env.pop("SEMITRUTHS_EXECUTOR", None)
    Path(env["DAGSTER_HOME"]).mkdir()
    cmd = [BIN / "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", "source_images,masks,perturbed_prompts", "--partition", "sample"]
    out = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "multiprocess executor" in out.stderr
    # The run's own event log, not the console (whose lines from step processes can interleave under load).
    with DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
        [run] = instance.get_runs()
        done = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.STEP_SUCCESS).records
        assert sorted(r.event_log_entry.step_key for r in done) == ["masks", "perturbed_prompts", "source_images"]
    with duckdb.connect(str(tmp_path / "storage" / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM perturbed_prompts WHERE valid").fetchone()[0] > 0
