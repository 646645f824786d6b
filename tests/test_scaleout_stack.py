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
LOST_AFTER_S = 20  # execution.worker_lost_after_s of these tests (60 by default)
pytestmark = pytest.mark.slow
needs = [shutil.which("redis-server"), shutil.which("initdb") or shutil.which("pg_ctl")]
if not all(needs):
    pytest.skip("redis-server / PostgreSQL not installed (.ci/run installs them)", allow_module_level=True)


def write_config(path: Path, storage: str, cache: Path, executor: str = "celery") -> Path:
    path.write_text(yaml.safe_dump({
        "storage": {"root": storage, "cache": str(cache)},
        # Long enough that a run's recorded settings take several run tags (PostgreSQL's index limit).
        "sources": {"sample": {"adapter": "embedded", "description": "the built-in sample, " * 120}},
        "prompts": {"magnitudes": ["small"]},
        "generation": {"generators": ["sd15"], "methods": ["inpainting"], "chunk_size": 2},
        "execution": {"executor": executor, "worker_lost_after_s": LOST_AFTER_S},
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
    stack.wait_ready([logs / f"worker-{q}.log" for q in procs])  # then `deploy check` sees them at once
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
    # Each worker's storage root is listed; a host whose settings name another root sees the mismatch.
    assert "ok      worker gpu@" in check.stdout and f"storage root s3://{BUCKET}/run" in check.stdout
    other = write_config(env["base"] / "other-root.yaml", f"s3://{BUCKET}/other", env["base"] / "cache")
    differs = cli(dict(e, SEMITRUTHS_CONFIG=str(other)), "deploy", "check")
    assert differs.returncode == 1 and [line for line in differs.stdout.splitlines() if line.startswith(
        "MISSING worker cpu@") and f"storage root s3://{BUCKET}/run differs from this host's s3://{BUCKET}/other" in line]
    for selection, partition in (("source_images,masks,perturbed_prompts", "sample"), ("prompt_filters", None),
                                 ("generations,change_metrics", "sample|sd15")):
        result = materialize(e, selection, partition)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    ran_on = step_workers(e)
    # Each run recorded its settings (in pieces) and its steps used them: no worker warned of other settings.
    pieces = py(e, "from dagster import DagsterInstance as I; i = I.get(); runs = i.get_runs(); print(min(int("
                   "r.tags['semitruths/settings_pieces']) for r in runs), sum('differs from the run' in x.message "
                   "for r in runs for x in i.all_logs(r.run_id)))").stdout.split()
    assert int(pieces[-2]) >= 2 and pieces[-1] == "0", pieces
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
    # Step logs reach the compute log manager (the UI's step view) from the Celery workers.
    logs = py(e, f"import json, s3fs; fs = s3fs.S3FileSystem(); print(json.dumps([fs.cat(k).decode(errors='replace') "
                 f"for k in fs.find('{BUCKET}/dagster-compute-logs')]))").stdout.strip().splitlines()[-1]
    assert any("12 items, 0 already done" in text or "to make" in text for text in json.loads(logs)), logs[:2000]


def generation_rows(env: dict) -> tuple[int, int, list[str]]:
    out = cli(env, "warehouse", "--query", "SELECT generation_id, image_path FROM generations").stdout.split("\n")
    rows = [line.split("\t") for line in out if line.strip()]
    return len(rows), len({r[0] for r in rows}), [r[1] for r in rows]


FORCE = json.dumps({"ops": {"generations": {"config": {"force": True}}}})
CHUNKS = f"{BUCKET}/run/tables/generations/dataset=sample/generator=sd15/_chunks"
PROBE = f"import s3fs; print(len(s3fs.S3FileSystem().glob('{CHUNKS}/chunk-*.parquet')))"


def forced_generation_run(env: dict) -> subprocess.Popen:
    """`dagster asset materialize` of the sample's sd15 generations with force, once its first chunk is
    committed (the run's own process is the Celery executor's orchestrator)."""
    cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", "generations", "--partition", "sample|sd15", "--config-json", FORCE]
    before = int(py(env, PROBE).stdout.strip() or 0)
    run = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           start_new_session=True)
    deadline = time.monotonic() + 600
    while int(py(env, PROBE).stdout.strip() or 0) <= before:  # the forced run has committed a chunk
        assert time.monotonic() < deadline and run.poll() is None, "no chunk was committed"
        time.sleep(0.5)
    return run


def started_runs(env: dict) -> list[str]:
    return py(env, "from dagster import DagsterInstance, DagsterRunStatus, RunsFilter\n"
                   "print(' '.join(r.run_id for r in DagsterInstance.get().get_runs("
                   "RunsFilter(statuses=[DagsterRunStatus.STARTED]))))").stdout.split()


def test_gpu_worker_killed_mid_partition_then_rerun_finishes_without_redoing_chunks(env, workers):
    e = env["env"]
    total, distinct, _ = generation_rows(e)
    assert total == distinct > 2, "the slice test materializes the partition first"
    run = forced_generation_run(e)
    killed = time.monotonic()
    os.killpg(workers["gpu"].pid, signal.SIGKILL)  # the GPU worker dies mid-partition
    workers["gpu"].wait()
    # Readers never see a hole: the partition answers while no worker finishes it.
    assert generation_rows(e)[:2] == (total, total)
    # The run ends by itself (execution.worker_lost_after_s), with one line naming the worker; no run is
    # left STARTED, so none holds a `gpu` pool slot.
    out, _ = run.communicate(timeout=LOST_AFTER_S + 120)
    ended_after = time.monotonic() - killed
    assert run.returncode != 0 and ended_after < LOST_AFTER_S + 60, (ended_after, out[-3000:])
    assert [line for line in out.splitlines() if "Celery worker gpu@" in line and "has not run it for" in line]
    assert started_runs(e) == []
    committed = int(py(e, PROBE).stdout.strip())
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


STEP_END = """
import json, time
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
inst = DagsterInstance.get()
record = inst.get_run_records(RunsFilter(statuses=[DagsterRunStatus.FAILURE]), limit=1)[0]
deadline = time.monotonic() + 300
while True:
    failures = [e for e in inst.all_logs(record.dagster_run.run_id, of_type=DagsterEventType.STEP_FAILURE)]
    if failures or time.monotonic() > deadline:
        break
    time.sleep(1)
error = failures[0].dagster_event.step_failure_data.error.to_string() if failures else "no step failure"
print(json.dumps({"failed_at": record.end_time, "error": error}))
"""


def chunk_times(env: dict) -> list[float]:
    names = py(env, f"import s3fs; print(' '.join(s3fs.S3FileSystem().glob('{CHUNKS}/chunk-*.parquet')))").stdout.split()
    return sorted(int(n.rsplit("/", 1)[1].split("-")[1]) / 1e9 for n in names)


def test_redis_restart_fails_the_run_and_its_step_writes_nothing_after(env, workers):
    """The broker restarts mid-step: the run fails; the step, still going on its worker, commits no
    chunk after that and never replaces the partition's table (the kill test above shows a re-run
    completing such a partition)."""
    e = env["env"]
    total = generation_rows(e)[0]
    part = f"{BUCKET}/run/tables/generations/dataset=sample/generator=sd15/part.parquet"
    stamp = f"import s3fs; print(s3fs.S3FileSystem().info('{part}')['LastModified'].timestamp())"
    table_before = float(py(e, stamp).stdout)
    run = forced_generation_run(e)
    stack.restart_redis(e)
    out, _ = run.communicate(timeout=300)
    assert run.returncode != 0, out[-3000:]
    ended = json.loads(py(e, STEP_END).stdout.strip().splitlines()[-1])  # the step ran on and met the guard
    assert "WriteRefused" in ended["error"] and "is FAILURE" in ended["error"], ended
    failed_at = ended["failed_at"]
    assert [t for t in chunk_times(e) if t > failed_at + 1.0] == []
    assert float(py(e, stamp).stdout) == table_before
    assert started_runs(e) == []
    # Readers see the committed table plus the chunks the refused run committed: every request, once.
    assert generation_rows(e)[:2] == (total, total)


REPORTS = """
import os
from dagster import DagsterInstance, MultiPartitionKey, materialize
from assets.detectors import detector_predictions, evaluation, leaderboard
from assets.metrics import bins, saliency_labels, saliency_scores
from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.detectors import write_random_detector

project = ProjectResource()
resources = {"project": project, "models": ModelsResource(), "gpu": GpuResource()}
det = project.config().section("detectors")
write_random_detector("npr", det["registry"], det["weights"])
with DagsterInstance.get() as instance:
    instance.add_dynamic_partitions("detectors", ["npr-random"])
    for assets, key in (([saliency_scores, saliency_labels, bins], MultiPartitionKey({"dataset": "sample", "generator": "sd15"})),
                        ([detector_predictions], MultiPartitionKey({"dataset": "sample", "detector": "npr-random"})),
                        ([evaluation, leaderboard], "npr-random")):
        assert materialize(assets, partition_key=key, resources=resources, instance=instance).success
row = project.tables().read("evaluation", {"detector": "npr-random"}).row(0, named=True)
print(row["report_path"], row["result_path"])
"""

BUCKET_PAGES = """
import json, s3fs
fs = s3fs.S3FileSystem()
reports = "{reports}"
print(json.dumps({{"keys": fs.find(reports), "report": fs.cat(reports + "/npr-random/report.html").decode(),
                  "board": fs.cat(reports + "/leaderboard.html").decode()}}))
"""


def test_reports_land_in_the_bucket(env):
    """Evaluation report, its figures and result, and the leaderboard page go to <storage>/reports/ in the
    bucket, where every host (and the UI) finds them; the tables point there."""
    base, e = env["base"], env["env"]
    config = yaml.safe_load(Path(e["SEMITRUTHS_CONFIG"]).read_text())
    config["detectors"] = {"registry": str(base / "registry"), "weights": str(base / "weights"), "n_boot": 50,
                           "only_salient": False}
    (base / "reports.yaml").write_text(yaml.safe_dump(config))
    e = dict(e, SEMITRUTHS_CONFIG=str(base / "reports.yaml"))
    made = py(e, REPORTS, check=False)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    reports = f"{BUCKET}/run/reports"
    assert made.stdout.split()[-2:] == [f"s3://{reports}/npr-random/report.html", f"s3://{reports}/npr-random/result.json"]
    bucket = json.loads(py(e, BUCKET_PAGES.format(reports=reports)).stdout.strip().splitlines()[-1])
    assert {f"{reports}/npr-random/report.html", f"{reports}/npr-random/result.json",
            f"{reports}/leaderboard.html"} <= set(bucket["keys"]), bucket["keys"]
    assert any(key.endswith(".png") for key in bucket["keys"] if "/npr-random/" in key)
    assert "random weights" in bucket["report"].split("<body>", 1)[-1][:400].lower()
    assert "npr-random" in bucket["board"] and "random weights" in bucket["board"].lower()


RUN_TIMES = """
import json, sys, time
from dagster import DagsterInstance
ids = sys.argv[1:]
with DagsterInstance.get() as inst:
    deadline = time.monotonic() + 600
    while not all(inst.get_run_by_id(i) and inst.get_run_by_id(i).is_finished for i in ids):
        assert time.monotonic() < deadline, [inst.get_run_by_id(i).status for i in ids]
        time.sleep(2)
    out = {}
    for i in ids:
        run = inst.get_run_by_id(i)
        marks = {}
        for entry in inst.all_logs(i):
            if entry.dagster_event:
                marks.setdefault(f"{entry.dagster_event.event_type.name}:{entry.step_key or ''}", entry.timestamp)
        out[i] = {"status": run.status.value, "partition": run.tags.get("dagster/partition"), "marks": marks}
print(json.dumps(out))
"""


def test_gpu_pool_of_one_keeps_two_generation_runs_apart(env):
    """Pool `gpu` at 1, run granularity, queued by the real daemon: two generation runs for two partitions,
    submitted together, run one after the other (STEP_START / STEP_SUCCESS from the event log)."""
    base = env["base"]
    (base / "pool-registry").mkdir()  # no detector: the daemon's registry sensor asks for no run
    config = base / "pool.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"root": f"s3://{BUCKET}/run", "cache": str(base / "cache")},
        # Long enough that a run's recorded settings take several run tags (PostgreSQL's index limit).
        "sources": {"sample": {"adapter": "embedded", "description": "the built-in sample, " * 120}},
        "prompts": {"magnitudes": ["small"]},
        # Two partitions the other tests leave alone; the sample's upstream is in the bucket already.
        "generation": {"generators": ["sd14", "openjourney"], "methods": ["inpainting"], "chunk_size": 2,
                       "max_per_method": 2, "tiny": {"size": 64, "steps": 6}},
        "detectors": {"registry": str(base / "pool-registry")},
        "execution": {"executor": "multiprocess"},  # nothing but the pool keeps the runs apart
    }))
    e = dict(env["env"], SEMITRUTHS_CONFIG=str(config))
    upstream = py(e, f"import s3fs; print(len(s3fs.S3FileSystem().find('{BUCKET}/run/tables/prompt_filters')))")
    assert int(upstream.stdout) > 0, "the slice test materializes the sample's upstream first"
    pool = subprocess.run([sys.executable, "-m", "dagster", "instance", "concurrency", "set", "gpu", "1"],
                          env=e, cwd=REPO, capture_output=True, text=True)
    assert pool.returncode == 0, pool.stdout + pool.stderr
    runs = {f"00000000-0000-4000-8000-00000000000{i}": f"sample|{g}" for i, g in enumerate(("sd14", "openjourney"))}
    with stack.code_server_and_daemon(e, REPO, base) as port:
        launches = [subprocess.Popen(
            [sys.executable, "-m", "dagster", "job", "launch", "--grpc-host", "127.0.0.1", "--grpc-port", str(port),
             "-j", "dataset_generator_pipeline", "-o", "generations", "--run-id", run_id, "--tags", json.dumps({
                 "dagster/partition": key, "dagster/partition/dataset": "sample",
                 "dagster/partition/generator": key.split("|")[1]})],
            env=e, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for run_id, key in runs.items()]
        for launch in launches:
            out, _ = launch.communicate(timeout=300)
            assert launch.returncode == 0, out[-3000:]
        times = json.loads(py(e, RUN_TIMES.replace("sys.argv[1:]", repr(list(runs)))).stdout.strip().splitlines()[-1])
    daemon_log = (base / "daemon.log").read_text(errors="replace")
    assert {t["partition"] for t in times.values()} == set(runs.values())
    assert all(t["status"] == "SUCCESS" for t in times.values()), (times, daemon_log[-3000:])
    first, second = sorted(times.values(), key=lambda t: t["marks"]["STEP_START:generations"])
    f, s = first["marks"], second["marks"]
    # Both were queued before the first one's generation step ended: the second waited in the queue...
    assert max(f["RUN_ENQUEUED:"], s["RUN_ENQUEUED:"]) < f["STEP_SUCCESS:generations"]
    # ...and its generation step (its whole run, at run granularity) began only after the first finished.
    assert f["STEP_SUCCESS:generations"] <= s["STEP_START:generations"]
    assert f["RUN_SUCCESS:"] <= s["RUN_STARTING:"]
    blocked = next(i for i, t in times.items() if t is second)
    assert f"Run {blocked} is blocked by global concurrency limits" in daemon_log
