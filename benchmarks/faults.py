"""Fault benchmark: the local scale-out stack under one fault at a time (issue 25).

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/faults.py [--only NAME ...] [--max-per-method N] [--keep]

Starts PostgreSQL, Redis, moto's S3 server and two Celery workers (`gpu`, `cpu`) on 127.0.0.1
(tests/scaleout_stack.py), materializes the sample's slice up to `prompt_filters`, then, per fault: a
forced re-generation of `sample|sd15` (tiny random-weight models on CPU, chunks of 2) is started as its
own run; once it has committed a chunk the fault is injected; the table gets the seconds until the run
ended by itself (`detected s`: blank if it did not end within the limit), how it ended (the run's status
and the last line of its error), then after the fix (restart what was stopped) a plain re-run and
the seconds it took to complete the partition, and the partition's rows: expected, present,
duplicated, missing images. Target: 0 duplicated, 0 missing, every run ends by itself, one-line errors.

Faults: gpu-kill (SIGKILL of the gpu worker mid-chunk), cpu-kill (SIGKILL of the cpu worker during
`change_metrics`), redis (Redis restarted mid-step), postgres (PostgreSQL restarted mid-run), s3 (the S3
endpoint down for 30 s mid-write), twice (the same partition launched twice at once), disk (the gpu worker
restarted on a full model cache: a 64 KiB tmpfs mounted over `storage.cache`, so the tiny generator cannot
be built; the fix unmounts it; needs root, else the row says skipped), storage-disk (the storage root
fills mid-partition: run last, on a local root, a 256 MiB tmpfs that a filler file fills once a chunk is
committed; the fix deletes the filler; needs root). Needs redis-server and PostgreSQL (as in CI) and the
`distributed` extras.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BUCKET = "faults"
LOST_AFTER_S = 20
LIMIT_S = 600
FORCE = json.dumps({"ops": {"generations": {"config": {"force": True}}}})
PART = f"{BUCKET}/run/tables/generations/dataset=sample/generator=sd15"
FAULTS = ("gpu-kill", "cpu-kill", "redis", "postgres", "s3", "twice", "disk", "storage-disk")
FULL_CACHE = "64k"  # room for folders, none for a model
LOCAL_DISK = "256m"  # the local storage root of `storage-disk`: the sample's slice, and room to spare
GEN_DIR = "tables/generations/dataset=sample/generator=sd15"


@dataclass
class Row:
    fault: str
    detected_s: float | None
    outcome: str
    complete_s: float
    expected: int
    present: int
    duplicated: int
    missing_images: int


class Stack:
    def __init__(self, stack, env: dict, base: Path) -> None:
        self.stack, self.env, self.base = stack, env, base
        self.workers: dict[str, subprocess.Popen] = {}
        self.starts = 0
        self.cache = base / "cache"
        self.full = False
        self.local: Path | None = None  # the storage root when local (`storage-disk`), else S3
        self.filler: Path | None = None

    def fill_cache(self) -> bool:
        """Move the model cache aside and mount a tiny tmpfs in its place (a full local disk)."""
        self.cache.mkdir(exist_ok=True)
        self.cache.rename(self.cache.with_name("cache.saved"))
        self.cache.mkdir()
        self.full = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={FULL_CACHE}", "tmpfs", str(self.cache)],
                                   capture_output=True).returncode == 0
        if not self.full:
            self.free_cache()
        return self.full

    def free_cache(self) -> None:
        if self.full:
            subprocess.run(["umount", str(self.cache)], check=True)
            self.full = False
        self.cache.rmdir()
        self.cache.with_name("cache.saved").rename(self.cache)

    def start_worker(self, queue: str) -> None:
        self.starts += 1
        log = self.base / f"worker-{queue}-{self.starts}.log"
        self.workers[queue] = self.stack.celery_worker(queue, self.env, REPO, log)
        self.stack.wait_ready([log])

    def kill_worker(self, queue: str) -> None:
        proc = self.workers.pop(queue)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop(self) -> None:
        for queue in list(self.workers):
            self.kill_worker(queue)

    def py(self, code: str) -> str:
        return subprocess.run([sys.executable, "-c", code], env=self.env, cwd=REPO, capture_output=True,
                              text=True).stdout.strip()

    def materialize(self, selection: str, partition: str | None = None, config: str | None = None,
                    wait: bool = True) -> subprocess.Popen:
        cmd = [sys.executable, "-m", "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
               "--select", selection] + (["--partition", partition] if partition else []) + \
              (["--config-json", config] if config else [])
        proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, start_new_session=True)
        if wait:
            out, _ = proc.communicate(timeout=LIMIT_S)
            if proc.returncode:
                raise SystemExit(f"{selection} failed:\n{out[-3000:]}")
        return proc

    def chunks(self) -> int:
        """Committed chunks of the partition, listed from this process (a fault lands within a second)."""
        if self.local is not None:
            return len(list((self.local / GEN_DIR / "_chunks").glob("chunk-*.parquet")))
        import s3fs

        fs = s3fs.S3FileSystem(skip_instance_cache=True)
        return len(fs.glob(f"{PART}/_chunks/chunk-*.parquet"))

    def rows(self) -> tuple[int, int, int]:
        """(rows, duplicated keys, missing images) of the partition as the warehouse reads it."""
        out = subprocess.run([sys.executable, "-m", "semitruths_dagster.cli", "warehouse", "--query",
                              "SELECT generation_id, image_path FROM generations WHERE generator = 'sd15'"],
                             env=self.env, cwd=REPO, capture_output=True, text=True).stdout
        rows = [line.split("\t") for line in out.splitlines() if line.strip()]
        if self.local is not None:
            return len(rows), len(rows) - len({r[0] for r in rows}), sum(not (self.local / r[1]).is_file() for r in rows)
        keys = self.py(f"import s3fs; print('\\n'.join(s3fs.S3FileSystem().find('{BUCKET}/run/images')))").split()
        missing = sum(f"{BUCKET}/run/{r[1]}" not in set(keys) for r in rows)
        return len(rows), len(rows) - len({r[0] for r in rows}), missing

    def last_run(self) -> tuple[str, str]:
        """Status and last error line of the newest run."""
        code = """
import re
from dagster import DagsterEventType, DagsterInstance
inst = DagsterInstance.get()
run = inst.get_runs(limit=1)[0]
err = ""
for e in inst.all_logs(run.run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE}):
    data = e.dagster_event.event_specific_data
    text = (getattr(data, "error", None) and data.error.to_string()) or e.message or ""
    # The error's own line ("SomeError: what happened"), not a traceback's code line.
    found = [m.group(1) for x in text.splitlines() if (m := re.search(r"(\w+(?:Error|Exception|Lost|Refused): .*)", x))]
    err = found[-1] if found else err
print(run.status.value + "\\t" + err[:200])"""
        status, _, err = self.py(code).partition("\t")
        return status, err


def wait_chunk(stack: Stack, run: subprocess.Popen, before: int) -> None:
    deadline = time.monotonic() + LIMIT_S
    while stack.chunks() <= before:
        if time.monotonic() > deadline or run.poll() is not None:
            raise SystemExit("the forced run committed no chunk")
        time.sleep(0.2)


def wait_step(stack: Stack, step: str, known: set[str]) -> None:
    """Until the first run not in `known` (the run just launched, once it exists) has started `step`."""
    code = f"""
import sys, time
from dagster import DagsterEventType, DagsterInstance
inst = DagsterInstance.get()
known = {sorted(known)!r}
deadline = time.monotonic() + {LIMIT_S}
while time.monotonic() < deadline:
    new = [r for r in inst.get_runs(limit=len(known) + 5) if r.run_id not in known]
    if new and [e for e in inst.all_logs(new[-1].run_id, of_type=DagsterEventType.STEP_START) if e.step_key == "{step}"]:
        sys.exit(0)
    if new and inst.get_run_by_id(new[-1].run_id).is_finished:
        sys.exit("the run ended before its {step} step started")
    time.sleep(0.2)
sys.exit("no new run started {step} within {LIMIT_S} s")"""
    done = subprocess.run([sys.executable, "-c", code], env=stack.env, cwd=REPO, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"waiting for {step}: {done.stderr.strip().splitlines()[-1:]}")


def inject(stack: Stack, fault: str) -> tuple[subprocess.Popen, list[subprocess.Popen], float]:
    """Start the faulted run(s), inject the fault; returns the run to time, the other runs it started and
    when the fault began (the S3 outage returns once the endpoint is back)."""
    s = stack.stack
    if fault == "cpu-kill":
        known = set(stack.py("from dagster import DagsterInstance; "
                             "print(' '.join(r.run_id for r in DagsterInstance.get().get_runs()))").split())
        run = stack.materialize("generations,change_metrics", "sample|sd15", FORCE, wait=False)
        wait_step(stack, "change_metrics", known)
        at = time.monotonic()
        stack.kill_worker("cpu")
        return run, [], at
    if fault == "disk":  # a fresh gpu worker (no model in memory) on a full cache
        stack.kill_worker("gpu")
        if not stack.fill_cache():
            raise SystemExit(f"mount -t tmpfs over {stack.cache} failed")
        stack.start_worker("gpu")
        return stack.materialize("generations", "sample|sd15", FORCE, wait=False), [], time.monotonic()
    before = stack.chunks()
    run = stack.materialize("generations", "sample|sd15", FORCE, wait=False)
    if fault == "twice":
        return run, [stack.materialize("generations", "sample|sd15", FORCE, wait=False)], time.monotonic()
    wait_chunk(stack, run, before)
    at = time.monotonic()
    if fault == "gpu-kill":
        stack.kill_worker("gpu")
    elif fault == "redis":
        s.restart_redis(stack.env)
    elif fault == "postgres":
        s.restart_postgres(stack.env)
    elif fault == "s3":
        s.s3_outage(stack.env, 30)
    elif fault == "storage-disk":  # every byte left taken (dd stops at ENOSPC)
        stack.filler = stack.local / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={stack.filler}", "bs=1M"], capture_output=True)
    return run, [], at


def fix(stack: Stack, fault: str) -> None:
    if stack.filler is not None:  # space freed
        stack.filler.unlink()
        stack.filler = None
    if stack.full:  # free the space: the gpu worker restarts on the real cache
        stack.kill_worker("gpu")
        stack.free_cache()
    for queue in ("gpu", "cpu"):
        if queue not in stack.workers:
            stack.start_worker(queue)


def measure(stack: Stack, fault: str, expected: int) -> Row:
    if fault in ("disk", "storage-disk") and os.geteuid() != 0:
        return Row(fault, None, "skipped: needs root to mount a tmpfs", 0.0, expected, 0, 0, 0)
    run, others, injected = inject(stack, fault)
    try:
        run.communicate(timeout=LIMIT_S)
        detected: float | None = time.monotonic() - injected
    except subprocess.TimeoutExpired:
        detected = None
        os.killpg(run.pid, signal.SIGKILL)
        run.communicate()
    for other in others:
        other.communicate(timeout=LIMIT_S)
    status, err = stack.last_run()
    fix(stack, fault)
    fixed = time.monotonic()
    stack.materialize("generations", "sample|sd15")
    complete = time.monotonic() - fixed
    present, duplicated, missing = stack.rows()
    return Row(fault, detected, f"{status}{': ' + err if err else ''}", complete, expected, present, duplicated, missing)


def local_root(stack: Stack, settings: dict) -> int | None:
    """Restart the workers on a local storage root, a tmpfs (a disk that really fills), and materialize the
    slice there; returns the partition's rows (None: the tmpfs could not be mounted)."""
    disk = stack.base / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={LOCAL_DISK}", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        return None
    import yaml

    config = stack.base / "semitruths-local.yaml"
    config.write_text(yaml.safe_dump({**settings, "storage": {**settings["storage"], "root": str(disk)}}))
    stack.stop()
    stack.env["SEMITRUTHS_CONFIG"], stack.local = str(config), disk
    stack.start_worker("gpu")
    stack.start_worker("cpu")
    setup(stack)
    return stack.rows()[0]


def setup(stack: Stack) -> None:
    stack.materialize("source_images,masks,perturbed_prompts", "sample")
    stack.materialize("prompt_filters")
    stack.materialize("generations,change_metrics", "sample|sd15")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", choices=FAULTS, help="these faults only (default: all)")
    parser.add_argument("--max-per-method", type=int, default=0,
                        help="generation.max_per_method: edits per method in the partition (default: all)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configs)")
    args = parser.parse_args(argv)
    import yaml

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    sys.path.insert(0, str(REPO))
    from tests import scaleout_stack as stack_mod

    base = Path(tempfile.mkdtemp(prefix="semitruths-faults-"))
    rows: list[Row] = []
    with stack_mod.postgres() as pg, stack_mod.redis(base) as broker, stack_mod.s3(BUCKET) as s3:
        home = base / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        config = base / "semitruths.yaml"
        settings = {
            "storage": {"root": f"s3://{BUCKET}/run", "cache": str(base / "cache")},
            "sources": {"sample": {"adapter": "embedded"}},
            "prompts": {"magnitudes": ["small"]},
            "generation": {"generators": ["sd15"], "methods": ["inpainting"], "chunk_size": 2,
                           **({"max_per_method": args.max_per_method} if args.max_per_method else {})},
            "execution": {"executor": "celery", "worker_lost_after_s": LOST_AFTER_S},
        }
        config.write_text(yaml.safe_dump(settings))
        os.environ.update(s3)  # this process lists the chunks
        env = dict(os.environ, **pg, **broker, **s3, DAGSTER_HOME=str(home), SEMITRUTHS_CONFIG=str(config),
                   PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", SEMITRUTHS_GPU_LEASE_DIR=str(base / "leases"))
        for name in ("SEMITRUTHS_STORAGE", "SEMITRUTHS_EXECUTOR"):
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=env, cwd=REPO, check=True,
                       capture_output=True)
        stack = Stack(stack_mod, env, base)
        faults = args.only or FAULTS
        try:
            if [f for f in faults if f != "storage-disk"]:
                stack.start_worker("gpu")
                stack.start_worker("cpu")
                setup(stack)
                expected = stack.rows()[0]
                for fault in [f for f in faults if f != "storage-disk"]:
                    rows.append(measure(stack, fault, expected))
                    print(rows[-1], flush=True)
            if "storage-disk" in faults:  # last: the workers move to a local root
                expected = local_root(stack, settings) if os.geteuid() == 0 else 0
                rows.append(measure(stack, "storage-disk", expected) if expected is not None else
                            Row("storage-disk", None, "skipped: mount -t tmpfs failed", 0.0, 0, 0, 0, 0))
                print(rows[-1], flush=True)
        finally:
            stack.stop()
            if stack.local is not None:  # the killed workers' children may hold it for a moment
                for _ in range(10):
                    if subprocess.run(["umount", str(stack.local)], capture_output=True).returncode == 0:
                        break
                    time.sleep(1)
                else:
                    subprocess.run(["umount", "-l", str(stack.local)], capture_output=True)
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    print(f"\nOne fault at a time on a forced re-generation of sample|sd15 (tiny random-weight models on CPU, "
          f"chunks of 2, execution.worker_lost_after_s={LOST_AFTER_S}). Shared machine: seconds are indicative.")
    print(f"{'fault':<13}{'detected s':>11}{'complete s':>11}{'expected':>9}{'present':>8}{'dup':>5}{'no img':>7}  outcome")
    for r in rows:
        detected = f"{r.detected_s:.0f}" if r.detected_s is not None else "never"
        print(f"{r.fault:<13}{detected:>11}{r.complete_s:>11.0f}{r.expected:>9}{r.present:>8}{r.duplicated:>5}"
              f"{r.missing_images:>7}  {r.outcome}")


if __name__ == "__main__":
    main()
