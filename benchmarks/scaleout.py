"""Scale-out overhead on this machine: the tiny-profile slice (source_images, masks, perturbed_prompts) of
two shards of the sample, run as two concurrent runs, through the multiprocess executor and through
Celery with one and with two `cpu` workers, all on one PostgreSQL instance and one moto S3 bucket.

    PYTHONPATH=. .venv/bin/python benchmarks/scaleout.py

Prints wall time per configuration, time per step and ratios to the multiprocess baseline measured in
the same run. Needs redis-server and PostgreSQL (as in CI) and the `distributed` extras.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from tests import scaleout_stack as stack  # noqa: E402

SELECTION = "source_images,masks,perturbed_prompts"
SHARDS = ["sample.shard0", "sample.shard1"]
STEPS = 3 * len(SHARDS)


def run_pair(env: dict) -> float:
    """Both shards' slices as two concurrent runs; wall seconds until both finish."""
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-m", "dagster", "asset", "materialize", "-m",
                               "semitruths_dagster.definitions", "--select", SELECTION, "--partition", shard],
                              env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for shard in SHARDS]
    for proc in procs:
        _, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"run failed:\n{err[-3000:]}")
    return time.perf_counter() - start


def main() -> None:
    base = Path(tempfile.mkdtemp(prefix="semitruths-bench-"))
    results = []
    with stack.postgres() as pg, stack.redis(base) as broker, stack.s3("bench") as s3:
        home = base / "home"
        home.mkdir()
        shutil.copy(REPO / "deploy" / "dagster.yaml", home / "dagster.yaml")
        cfg = base / "semitruths.yaml"
        env = dict(os.environ, **pg, **broker, **s3, DAGSTER_HOME=str(home), SEMITRUTHS_CONFIG=str(cfg),
                   PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1")
        subprocess.run([sys.executable, "-m", "dagster", "instance", "migrate"], env=env, cwd=REPO, check=True,
                       capture_output=True)
        for label, executor, workers in (("multiprocess", "multiprocess", 0), ("celery, 1 cpu worker", "celery", 1),
                                         ("celery, 2 cpu workers", "celery", 2)):
            cfg.write_text(yaml.safe_dump({
                "storage": {"root": f"s3://bench/{executor}{workers}", "cache": str(base / "cache")},
                "sources": {"sample": {"adapter": "embedded", "shards": 2}},
                "prompts": {"magnitudes": ["small"], "score_with_clip": False},
                "execution": {"executor": executor},
            }))
            procs = [stack.celery_worker("cpu", env, REPO, base / f"w{i}.log", name=f"cpu{i}") for i in range(workers)]
            try:
                if workers:
                    time.sleep(15)  # workers import the code location before taking tasks
                results.append((label, run_pair(env)))
            finally:
                for proc in procs:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
    base_s = results[0][1]
    print("\nNote: 2 shared CPU cores (other work running), tiny random-weight models; figures are relative.")
    print(f"{'configuration':<24}{'wall s':>9}{'s / step':>10}{'x multiprocess':>16}")
    for label, wall in results:
        print(f"{label:<24}{wall:>9.1f}{wall / STEPS:>10.1f}{wall / base_s:>16.2f}")


if __name__ == "__main__":
    main()
