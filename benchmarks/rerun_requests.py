"""What an unchanged sources rerun starts downstream: this tree beside a baseline tree, in the same run.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/rerun_requests.py [--baseline REF] [--detectors 10]

The baseline is the tree of a git ref (default: the last commit before assets reported data versions),
exported with `git archive` into a temporary folder and run with the same Python. For each tree, in a
fresh process with its own storage, Dagster instance and the embedded sample as the only source:
`--detectors` detector partitions are registered; the `sources` group (source_images, released_edits,
masks) is materialized for `sample`; automation ticks (the code location's own conditions, evaluated as
the daemon's `evaluation_automation` sensor does) until nothing more is requested; then the sources group
runs again on the same files and one more tick counts what it requests: evaluation partitions (each a
detector's full evaluation, bootstrap and report) and leaderboard runs. The seconds of that rerun and tick
are beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BASELINE_REF = "33c3cac"  # before data versions (issue 22, item 6)

# Runs in the tree under test (PYTHONPATH): only names both trees have.
SCENARIO = """
import json, sys, time
from dagster import AssetSelection, DagsterInstance, evaluate_automation_conditions, materialize
from assets.detectors import evaluation, leaderboard
from assets.masks import masks
from assets.released import released_edits
from assets.sources import source_images
from resources import ProjectResource
from semitruths_dagster.definitions import defs

detectors, config, storage = int(sys.argv[1]), sys.argv[2], sys.argv[3]
project = ProjectResource(config_path=config, storage_root=storage)
instance = DagsterInstance.ephemeral()
instance.add_dynamic_partitions("detectors", [f"det-{i:02d}" for i in range(detectors)])
selection = AssetSelection.assets(evaluation, leaderboard)

def sources():
    assert materialize([source_images, released_edits, masks], partition_key="sample",
                       resources={"project": project}, instance=instance).success

def tick(cursor):
    result = evaluate_automation_conditions(defs=defs, instance=instance, asset_selection=selection, cursor=cursor)
    return result, len(result.get_requested_partitions(evaluation.key)), result.get_num_requested(leaderboard.key)

cursor = tick(None)[0].cursor
sources()
first = tick(cursor)
settled = tick(first[0].cursor)  # a request counts as handled on the next tick
start = time.perf_counter()
sources()
rerun = tick(settled[0].cursor)
print(json.dumps({"first": first[1:], "settled": settled[1:], "rerun": rerun[1:],
                  "rerun_s": time.perf_counter() - start}))
"""


def export_tree(ref: str, into: Path) -> Path:
    """The files of `ref` (git archive), without touching this checkout or its worktrees."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(tree: Path, work: Path, detectors: int) -> dict:
    work.mkdir(parents=True)
    config = work / "semitruths.yaml"
    config.write_text(yaml.safe_dump({"storage": {"root": str(work / "storage")},
                                      "sources": {"sample": {"adapter": "embedded"}}}))
    env = dict(os.environ, PYTHONPATH=str(tree), SEMITRUTHS_CONFIG=str(config), HF_HUB_OFFLINE="1",
               DAGSTER_DISABLE_TELEMETRY="1")
    env.pop("SEMITRUTHS_STORAGE", None)
    out = subprocess.run([sys.executable, "-c", SCENARIO, str(detectors), str(config), str(work / "storage")],
                         env=env, cwd=tree, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"the scenario failed in {tree}:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default=BASELINE_REF, help=f"git ref of the baseline tree (default {BASELINE_REF})")
    parser.add_argument("--detectors", type=int, default=10, help="registered detector partitions (default 10)")
    args = parser.parse_args(argv)
    if args.detectors < 1:
        parser.error("--detectors must be at least 1")
    with tempfile.TemporaryDirectory(prefix="semitruths-rerun-") as tmp:
        base = Path(tmp)
        rows = [(f"baseline {args.baseline}", measure(export_tree(args.baseline, base / "tree"), base / "a",
                                                       args.detectors)),
                ("this tree", measure(REPO, base / "b", args.detectors))]
    print(f"\nSources group (source_images, released_edits, masks) of `sample`, {args.detectors} detectors registered;"
          " requests of one automation tick (evaluation partitions / leaderboard runs).")
    print(f"{'tree':<20} {'first ingest':>13} {'next tick':>10} {'unchanged rerun':>16} {'rerun + tick s':>15}")
    for label, r in rows:
        cells = [f"{r[k][0]} / {r[k][1]}" for k in ("first", "settled", "rerun")]
        print(f"{label:<20} {cells[0]:>13} {cells[1]:>10} {cells[2]:>16} {r['rerun_s']:>15.2f}")


if __name__ == "__main__":
    main()
