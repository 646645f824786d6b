"""Submit a run through the instance's run queue (the daemon starts it when `max_concurrent_runs` and the
`gpu` pool allow) and wait for it to end; exit 1 unless it succeeded.

    .venv/bin/python scripts/launch.py JOB OPS [--partition KEY] [--config-json JSON] [--wait-s 86400]

JOB is a pipeline job (`dataset_pipeline`, `dataset_generator_pipeline`, `cross_dataset`, ...), OPS the
assets to materialize, comma-separated; a two-dimension partition is `dataset|generator` as in the UI.
Unlike `dagster asset materialize`, which runs the steps from the submitting process and bypasses the
queue, the run is launched by the daemon (README "Scaling out").
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def partition_tags(job: str, key: str | None) -> dict[str, str]:
    """`dagster/partition` (+ one tag per dimension for a multi-dimension job: `a_b_pipeline` -> a, b)."""
    if not key:
        return {}
    dims = job.removesuffix("_pipeline").split("_")
    values = key.split("|")
    if len(values) != len(dims):
        raise SystemExit(f"launch: partition '{key}' does not have one value per dimension of {job} ({', '.join(dims)})")
    tags = {"dagster/partition": key}
    if len(dims) > 1:
        tags |= {f"dagster/partition/{d}": v for d, v in zip(dims, values, strict=True)}
    return tags


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("job")
    parser.add_argument("ops", help="assets to materialize, comma-separated")
    parser.add_argument("--partition")
    parser.add_argument("--config-json", help="run config, e.g. '{\"ops\": {\"generations\": {\"config\": {\"force\": true}}}}'")
    parser.add_argument("--wait-s", type=float, default=86400.0)
    args = parser.parse_args(argv)
    run_id = str(uuid.uuid4())
    cmd = [str(Path(sys.executable).parent / "dagster"), "job", "launch", "-w", str(REPO / "workspace.yaml"),
           "-j", args.job, "-o", args.ops, "--run-id", run_id, "--tags", json.dumps(partition_tags(args.job, args.partition))]
    if args.config_json:
        cmd += ["--config-json", args.config_json]
    subprocess.run(cmd, cwd=REPO, check=True)
    from dagster import DagsterInstance

    deadline = time.monotonic() + args.wait_s
    with DagsterInstance.get() as instance:
        while not (run := instance.get_run_by_id(run_id)).is_finished:
            if time.monotonic() > deadline:
                raise SystemExit(f"launch: run {run_id} still {run.status.value} after {args.wait_s:.0f} s")
            time.sleep(2)
    print(f"run {run_id}: {run.status.value}")
    if run.status.value != "SUCCESS":
        raise SystemExit(1)


if __name__ == "__main__":
    main()
