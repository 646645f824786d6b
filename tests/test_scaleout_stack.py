"""Scale-out on real servers (PostgreSQL, Redis, two Celery workers, moto's S3), all on 127.0.0.1.

One stack per module keeps the suite lean: the instance database, the broker and the bucket are shared
by every test here; each test uses its own keys or prefix.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from . import scaleout_stack as stack

REPO = Path(__file__).resolve().parents[1]
BUCKET = "semitruths-test"
pytestmark = pytest.mark.slow
needs = [shutil.which("redis-server"), shutil.which("initdb") or shutil.which("pg_ctl")]
if not all(needs):
    pytest.skip("redis-server / PostgreSQL not installed (.ci/run installs them)", allow_module_level=True)


def write_config(path: Path, storage: str, cache: Path, executor: str = "celery") -> Path:
    path.write_text(yaml.safe_dump({
        "storage": {"root": storage, "cache": str(cache)},
        "sources": {"sample": {"adapter": "embedded"}},
        "prompts": {"magnitudes": ["small"]},
        "generation": {"generators": ["sd15"], "methods": ["inpainting"], "chunk_size": 2},
        "execution": {"executor": executor},
    }))
    return path


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("stack")
    with stack.postgres() as pg, stack.redis(base) as broker, stack.s3(BUCKET) as s3:
        home = base / "dagster_home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        config = write_config(base / "semitruths.yaml", f"s3://{BUCKET}/run", base / "cache")
        environ = dict(os.environ, **pg, **broker, **s3, DAGSTER_HOME=str(home), SEMITRUTHS_CONFIG=str(config),
                       PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", SEMITRUTHS_GPU_LEASE_DIR=str(base / "leases"))
        environ.pop("SEMITRUTHS_EXECUTOR", None)
        environ.pop("SEMITRUTHS_STORAGE", None)
        migrate = subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=environ,
                                 capture_output=True, text=True, cwd=REPO)
        assert migrate.returncode == 0, migrate.stdout[-2000:] + migrate.stderr[-2000:]
        yield {"env": environ, "base": base}


def py(env: dict, code: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True, check=check)


def cli(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "semitruths_dagster.cli", *args], env=env, cwd=REPO,
                          capture_output=True, text=True)


def test_dynamic_partitions_added_by_one_process_are_seen_by_another(env):
    py(env["env"], "from dagster import DagsterInstance as I; I.get().add_dynamic_partitions('detectors', ['d-a', 'd-b'])")
    out = py(env["env"], "from dagster import DagsterInstance as I; print(sorted(I.get().get_dynamic_partitions('detectors')))")
    assert out.stdout.strip() == "['d-a', 'd-b']"


def test_bad_settings_are_one_line_naming_the_setting_and_write_nothing(env):
    e = env["env"]
    wrong_pw = cli(dict(e, DAGSTER_PG_PASSWORD="wrong"), "deploy", "check")
    assert wrong_pw.returncode == 1
    assert [line for line in wrong_pw.stdout.splitlines() if "MISSING instance database" in line and "DAGSTER_PG_PASSWORD" in line]
    dead = stack.free_port()
    broker = cli(dict(e, DAGSTER_CELERY_BROKER_URL=f"redis://127.0.0.1:{dead}/0"), "deploy", "check")
    assert broker.returncode == 1
    assert [line for line in broker.stdout.splitlines() if "MISSING celery broker" in line and "DAGSTER_CELERY_BROKER_URL" in line]
    config = write_config(env["base"] / "nobucket.yaml", "s3://no-such-bucket/x", env["base"] / "cache-nb")
    nobucket = cli(dict(e, SEMITRUTHS_CONFIG=str(config)), "deploy", "check")
    line = [x for x in nobucket.stdout.splitlines() if x.startswith("MISSING storage")]
    assert nobucket.returncode == 1 and line and "storage.root" in line[0] and "no-such-bucket" in line[0]
    # A step opening that storage fails with the same line and writes nothing (no bucket is created).
    opened = py(e, "from semitruths_dagster.storage import TableStore; TableStore('s3://no-such-bucket/x')", check=False)
    assert opened.returncode != 0 and "storage.root: bucket 'no-such-bucket'" in opened.stderr.strip().splitlines()[-1]
    assert "no-such-bucket" not in py(e, "import s3fs; print(s3fs.S3FileSystem().ls(''))").stdout
    bad = write_config(env["base"] / "scheme.yaml", "nosuch://b/x", env["base"] / "cache-s")
    scheme = cli(dict(e, SEMITRUTHS_CONFIG=str(bad)), "warehouse")
    assert scheme.returncode == 1 and "storage.root: unknown URL scheme 'nosuch'" in scheme.stderr
    assert len(scheme.stderr.strip().splitlines()) == 1 and not (env["base"] / "cache-s").exists()


def materialize(env: dict, selection: str, partition: str | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", selection] + (["--partition", partition] if partition else [])
    return subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=900)


def step_workers(env: dict) -> dict[str, str]:
    """Step key -> the Celery worker that ran it, from the engine events of every run in the instance."""
    code = """
import json
from dagster import DagsterEventType, DagsterInstance, EventRecordsFilter
inst = DagsterInstance.get()
out = {}
for rec in inst.get_event_records(EventRecordsFilter(event_type=DagsterEventType.ENGINE_EVENT), limit=10000):
    ev = rec.event_log_entry.dagster_event
    md = (ev.engine_event_data.metadata if ev and ev.engine_event_data else {}) or {}
    worker = md.get("Celery worker")
    if worker is not None and ev.step_key:
        out[ev.step_key] = worker.value
print(json.dumps(out))
"""
    return json.loads(py(env, code).stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def workers(env):
    logs = env["base"]
    procs = {q: stack.celery_worker(q, env["env"], REPO, logs / f"worker-{q}.log") for q in ("gpu", "cpu")}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        check = cli(env["env"], "deploy", "check")
        if check.returncode == 0:
            break
        time.sleep(2)
    yield procs
    for proc in procs.values():
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_sample_slice_runs_on_celery_gpu_steps_on_the_gpu_worker(env, workers):
    e = env["env"]
    check = cli(e, "deploy", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "workers on queue 'gpu': gpu@" in check.stdout and "workers on queue 'cpu': cpu@" in check.stdout
    for selection, partition in (("source_images,masks,perturbed_prompts", "sample"), ("prompt_filters", None),
                                 ("generations,change_metrics", "sample|sd15")):
        result = materialize(e, selection, partition)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran_on = step_workers(e)
    assert ran_on.get("generations", "").startswith("gpu@"), ran_on
    for step in ("source_images", "masks", "perturbed_prompts", "prompt_filters", "change_metrics"):
        assert ran_on.get(step, "").startswith("cpu@"), (step, ran_on)
    # Everything landed in the bucket; the warehouse answers over it.
    listing = py(e, f"import s3fs; fs = s3fs.S3FileSystem(); print('\\n'.join(fs.find('{BUCKET}/run')))").stdout.split()
    for table in ("source_images", "masks", "perturbed_prompts", "generations", "change_metrics"):
        assert any(f"/tables/{table}/" in key for key in listing), table
    assert any("/images/" in key for key in listing)
    answer = cli(e, "warehouse", "--query", "SELECT count(*), count(DISTINCT generation_id) FROM generations")
    total, distinct = map(int, answer.stdout.split())
    assert total == distinct > 0
    images = cli(e, "warehouse", "--query", "SELECT image_path FROM generations").stdout.split()
    assert all(f"{BUCKET}/run/{p}" in listing for p in images)


def generation_rows(env: dict) -> tuple[int, int, list[str]]:
    out = cli(env, "warehouse", "--query", "SELECT generation_id, image_path FROM generations").stdout.split("\n")
    rows = [line.split("\t") for line in out if line.strip()]
    return len(rows), len({r[0] for r in rows}), [r[1] for r in rows]


def test_gpu_worker_killed_mid_partition_then_rerun_finishes_without_redoing_chunks(env, workers):
    e = env["env"]
    total, distinct, _ = generation_rows(e)
    assert total == distinct > 2, "the slice test materializes the partition first"
    force = json.dumps({"ops": {"generations": {"config": {"force": True}}}})
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", "generations", "--partition", "sample|sd15", "--config-json", force]
    run = subprocess.Popen(cmd, env=e, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           start_new_session=True)
    chunks = f"{BUCKET}/run/tables/generations/dataset=sample/generator=sd15/_chunks"
    probe = f"import s3fs; print(len(s3fs.S3FileSystem().glob('{chunks}/chunk-*.parquet')))"
    deadline = time.monotonic() + 600
    while int(py(e, probe).stdout.strip() or 0) < 1:  # the forced run has committed its first chunk
        assert time.monotonic() < deadline and run.poll() is None, "no chunk was committed"
        time.sleep(1)
    os.killpg(workers["gpu"].pid, signal.SIGKILL)  # the GPU worker dies mid-partition
    workers["gpu"].wait()
    os.killpg(run.pid, signal.SIGKILL)  # its run waits on a step that will never report; end it too
    run.wait()
    committed = int(py(e, probe).stdout.strip())
    assert committed >= 1
    workers["gpu"] = stack.celery_worker("gpu", e, REPO, env["base"] / "worker-gpu-2.log")
    rerun = materialize(e, "generations", "sample|sd15")
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-3000:]
    after, after_distinct, images = generation_rows(e)
    assert after == after_distinct == total  # exactly one row per request
    listing = set(py(e, f"import s3fs; print('\\n'.join(s3fs.S3FileSystem().find('{BUCKET}/run/images')))").stdout.split())
    assert all(f"{BUCKET}/run/{p}" in listing for p in images)  # every image present
    done = py(e, """
from dagster import AssetKey, DagsterInstance
ev = DagsterInstance.get().get_latest_materialization_event(AssetKey("generations"))
md = ev.asset_materialization.metadata
print(md["already_done"].value, md["made_this_run"].value)""").stdout.split()
    already, made = int(done[0]), int(done[1])
    assert already >= committed and already + made == total  # finished chunks were not redone
