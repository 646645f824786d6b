"""Scale-out overhead: the tiny-profile slice through the multiprocess executor and through Celery.

The slice (source_images, masks, perturbed_prompts) of `--shards` shards of the sample runs as that many
concurrent runs (`dagster asset materialize`, one per shard), on one PostgreSQL instance and one moto S3
bucket, with three executors in turn: multiprocess, Celery with one `cpu` worker, Celery with two.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/scaleout.py [--shards 2] [--rounds 1]

Per configuration: wall seconds until every run finished, mean seconds inside a step (STEP_START to
STEP_SUCCESS), and the overhead per step: the time of each run (RUN_START to RUN_SUCCESS) in which no
step of it was computing (dispatch, process start, code load, waiting for a free worker), summed over
the runs and divided by their steps. Ratios are to the multiprocess baseline measured in the same
invocation. Each configuration first runs one untimed warm-up round (model builds, workers loading the
code), then `--rounds` timed rounds, each on an emptied storage prefix so that every step does its work.
Needs redis-server and PostgreSQL (as in CI) and the `distributed` extras.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SELECTION = "source_images,masks,perturbed_prompts"
CONFIGS = (("multiprocess", "multiprocess", 0), ("celery, 1 cpu worker", "celery", 1),
           ("celery, 2 cpu workers", "celery", 2))


@dataclass
class Round:
    wall_s: float
    steps: int
    step_s: float  # summed time inside steps
    overhead_s: float  # summed run time with no step of that run computing


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shards", type=int, default=2, help="shards of the sample = concurrent runs (default 2)")
    parser.add_argument("--rounds", type=int, default=1, help="timed rounds per configuration (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs, configs)")
    args = parser.parse_args(argv)
    if args.shards < 1 or args.rounds < 1:
        parser.error("--shards and --rounds must be at least 1")
    return args


def run_shards(env: dict, shards: list[str]) -> float:
    """Every shard's slice as concurrent runs; wall seconds until all finish."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                               "semitruths_dagster.definitions", "--select", SELECTION, "--partition", shard],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for shard in shards]
    failed = []
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            failed.append(err[-3000:])
    if failed:
        raise SystemExit("run failed:\n" + "\n".join(failed))
    return time.perf_counter() - start


def _union_s(intervals: list[tuple[float, float]]) -> float:
    total, end = 0.0, float("-inf")
    for lo, hi in sorted(intervals):
        if hi > end:
            total += hi - max(lo, end)
            end = hi
    return total


def step_times(since: datetime) -> tuple[int, float, float]:
    """(steps, seconds inside steps, run seconds with no step computing) of the runs created since."""
    from dagster import DagsterEventType, DagsterInstance, RunsFilter

    kinds = {DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS, DagsterEventType.STEP_START,
             DagsterEventType.STEP_SUCCESS}
    steps, inside, overhead = 0, 0.0, 0.0
    with DagsterInstance.get() as instance:
        for run in instance.get_runs(RunsFilter(created_after=since)):
            marks: dict[tuple[str, str | None], float] = {}
            for entry in instance.all_logs(run.run_id, of_type=kinds):
                marks[(entry.dagster_event.event_type.name, entry.step_key)] = entry.timestamp
            spans = [(t, marks[("STEP_SUCCESS", key)]) for (kind, key), t in marks.items()
                     if kind == "STEP_START" and ("STEP_SUCCESS", key) in marks]
            steps += len(spans)
            inside += sum(hi - lo for lo, hi in spans)
            overhead += marks[("RUN_SUCCESS", None)] - marks[("RUN_START", None)] - _union_s(spans)
    return steps, inside, overhead


def measure(env: dict, prefix: str, shards: list[str], rounds: int) -> Round:
    """One warm-up round, then `rounds` timed rounds, summed; the storage prefix is emptied before each
    round so that every step does its work again (the workers keep their configuration)."""
    import s3fs

    total = Round(0.0, 0, 0.0, 0.0)
    fs = s3fs.S3FileSystem()
    for i in range(rounds + 1):
        if fs.exists(prefix):
            fs.rm(prefix, recursive=True)
        since = datetime.now(UTC)
        wall = run_shards(env, shards)
        if i:  # round 0 warms up
            steps, inside, overhead = step_times(since)
            total = Round(total.wall_s + wall, total.steps + steps, total.step_s + inside,
                          total.overhead_s + overhead)
    return total


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import yaml

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request otherwise

    sys.path.insert(0, str(REPO))
    from tests import scaleout_stack as stack

    base = Path(tempfile.mkdtemp(prefix="semitruths-bench-"))
    shards = [f"sample.shard{i}" for i in range(args.shards)]
    results: list[tuple[str, Round]] = []
    with stack.postgres() as pg, stack.redis(base) as broker, stack.s3("bench") as s3:
        home = base / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        os.environ.update(pg, **s3, DAGSTER_HOME=str(home))  # this process reads the event log
        env = dict(os.environ, **broker, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
        for name in ("SEMITRUTHS_STORAGE", "SEMITRUTHS_EXECUTOR"):  # each configuration names its own
            env.pop(name, None)
        subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=env, cwd=REPO, check=True,
                       capture_output=True)
        for label, executor, workers in CONFIGS:
            cfg = base / f"{executor}{workers}.yaml"
            cfg.write_text(yaml.safe_dump({
                "storage": {"root": f"s3://bench/{executor}{workers}", "cache": str(base / "cache")},
                "sources": {"sample": {"adapter": "embedded", "shards": args.shards}},
                "prompts": {"magnitudes": ["small"], "score_with_clip": False},
                "execution": {"executor": executor},
            }))
            env["SEMITRUTHS_CONFIG"] = str(cfg)
            logs = [base / f"{executor}{workers}-w{i}.log" for i in range(workers)]
            procs = [stack.celery_worker("cpu", env, REPO, log, name=f"cpu{i}") for i, log in enumerate(logs)]
            try:
                stack.wait_ready(logs)
                results.append((label, measure(env, f"bench/{executor}{workers}", shards, args.rounds)))
            finally:
                for proc in procs:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)
    base_r = results[0][1]
    base_overhead = base_r.overhead_s / base_r.steps
    print(f"\n{args.shards} concurrent runs x 3 steps, {args.rounds} timed round(s) after a warm-up; tiny random-weight"
          " models on CPU. Timings on a shared machine: compare the ratios, not the seconds.")
    print(f"{'configuration':<24}{'wall s':>8}{'x wall':>8}{'s in step':>11}{'overhead s/step':>17}{'x overhead':>12}")
    for label, r in results:
        per_step = r.overhead_s / r.steps
        print(f"{label:<24}{r.wall_s:>8.1f}{r.wall_s / base_r.wall_s:>8.2f}{r.step_s / r.steps:>11.2f}"
              f"{per_step:>17.2f}{per_step / base_overhead:>12.2f}")


if __name__ == "__main__":
    main()
