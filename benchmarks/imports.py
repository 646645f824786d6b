"""Start-up cost of the code location: this tree beside a baseline tree, measured in the same run.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imports.py [--baseline REF] [--repeats 3]

The baseline is the tree of a git ref (default: the last commit before the code location stopped
importing torch), exported with `git archive` into a temporary folder and run with the same Python.
For each tree, in one invocation:

- `import`: wall seconds of `python -c "import semitruths_dagster.definitions"` in a fresh process
  (median of --repeats), and which model libraries that import loaded;
- `asset list`: wall seconds of `dagster asset list -m semitruths_dagster.definitions` (median);
- `overhead/step`: one `dagster asset materialize` of source_images, masks and perturbed_prompts on the
  embedded sample through the multiprocess executor (one process per step, each loading the code
  location): run seconds during which no step was computing (process start, code load, dispatch),
  divided by the steps, read from the run's event log; and the seconds inside the steps beside it.

The floor beside them: a fresh `python -c "import torch, transformers, sklearn"`, what every process
paid before. Timings on a shared machine: compare the columns within one run, not across runs.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
# The commit before the torch-free code location (issue 22): the honest "before" of this benchmark.
BASELINE_REF = "c7f6cdb"
SELECTION = "source_images,masks,perturbed_prompts"
MODEL_LIBRARIES = ("torch", "transformers", "diffusers", "timm", "open_clip", "sklearn")
PROBE = ("import sys, json, semitruths_dagster.definitions; "
         f"print(json.dumps([m for m in {MODEL_LIBRARIES!r} if m in sys.modules]))")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], epilog=__doc__.split("\n\n", 1)[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=BASELINE_REF, help=f"git ref of the baseline tree (default {BASELINE_REF})")
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per import timing (default 3)")
    parser.add_argument("--no-run", action="store_true", help="skip the multiprocess run (import timings only)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    return args


def export_tree(ref: str, into: Path) -> Path:
    """The files of `ref` (git archive), without touching this checkout or its worktrees."""
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def timed(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if out.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed in {cwd}:\n{out.stderr[-3000:]}")
    return elapsed, out.stdout


def median_s(cmd: list[str], env: dict[str, str], cwd: Path, repeats: int) -> tuple[float, str]:
    runs = [timed(cmd, env, cwd) for _ in range(repeats)]
    return statistics.median(t for t, _ in runs), runs[-1][1]


def run_overhead(tree: Path, env: dict[str, str]) -> tuple[int, float, float]:
    """(steps, seconds inside steps per step, seconds outside any step per step) of one multiprocess run."""
    timed([sys.executable, "-m", "dagster", "asset", "materialize", "-m", "semitruths_dagster.definitions",
           "--select", SELECTION, "--partition", "sample"], env, tree)
    reader = ("import json\n"
              "from dagster import DagsterEventType, DagsterInstance\n"
              "kinds = {DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS, DagsterEventType.STEP_START,\n"
              "         DagsterEventType.STEP_SUCCESS}\n"
              "with DagsterInstance.get() as instance:\n"
              "    run = instance.get_runs(limit=1)[0]\n"
              "    marks = [(e.dagster_event.event_type.name, e.step_key, e.timestamp)\n"
              "             for e in instance.all_logs(run.run_id, of_type=kinds)]\n"
              "print(json.dumps(marks))\n")
    _, out = timed([sys.executable, "-c", reader], env, tree)
    marks = {(kind, key): t for kind, key, t in json.loads(out)}
    spans = sorted((t, marks[("STEP_SUCCESS", key)]) for (kind, key), t in marks.items() if kind == "STEP_START")
    inside, end = 0.0, float("-inf")  # union of the step spans: steps of one run may overlap
    for lo, hi in spans:
        if hi > end:
            inside += hi - max(lo, end)
            end = hi
    total = marks[("RUN_SUCCESS", None)] - marks[("RUN_START", None)]
    steps = len(spans)
    return steps, sum(hi - lo for lo, hi in spans) / steps, (total - inside) / steps


def measure(tree: Path, base: Path, label: str, args: argparse.Namespace) -> dict:
    work = base / label
    (work / "home").mkdir(parents=True)
    config = work / "semitruths.yaml"
    config.write_text(yaml.safe_dump({
        "storage": {"root": str(work / "storage")},
        "sources": {"sample": {"adapter": "embedded"}},
        "prompts": {"magnitudes": ["small"], "score_with_clip": False},
        "execution": {"executor": "multiprocess"},
    }))
    env = dict(os.environ, PYTHONPATH=str(tree), SEMITRUTHS_CONFIG=str(config), DAGSTER_HOME=str(work / "home"),
               HF_HUB_OFFLINE="1", DAGSTER_DISABLE_TELEMETRY="1")
    for name in ("SEMITRUTHS_STORAGE", "SEMITRUTHS_EXECUTOR"):
        env.pop(name, None)
    row: dict = {"tree": label}
    row["import_s"], loaded = median_s([sys.executable, "-c", PROBE], env, tree, args.repeats)
    row["loaded"] = json.loads(loaded.strip().splitlines()[-1])
    row["list_s"], _ = median_s([sys.executable, "-m", "dagster", "asset", "list", "-m",
                                 "semitruths_dagster.definitions"], env, tree, args.repeats)
    if not args.no_run:
        row["steps"], row["step_s"], row["overhead_s"] = run_overhead(tree, env)
    return row


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="semitruths-imports-") as tmp:
        base = Path(tmp)
        baseline = export_tree(args.baseline, base / "baseline-tree")
        floor, _ = median_s([sys.executable, "-c", "import torch, transformers, sklearn"], dict(os.environ), REPO,
                            args.repeats)
        rows = [measure(baseline, base, f"baseline {args.baseline}", args), measure(REPO, base, "this tree", args)]
    print(f"\nFresh processes, median of {args.repeats}; one multiprocess run of {SELECTION} on the embedded sample "
          "per tree. Shared machine: compare within this table.")
    print(f"floor: python -c 'import torch, transformers, sklearn' = {floor:.2f} s")
    header = f"{'tree':<22}{'import s':>10}{'asset list s':>14}"
    header += "" if args.no_run else f"{'s in step':>11}{'overhead s/step':>17}"
    print(header + "   model libraries loaded by the import")
    for r in rows:
        line = f"{r['tree']:<22}{r['import_s']:>10.2f}{r['list_s']:>14.2f}"
        line += "" if args.no_run else f"{r['step_s']:>11.2f}{r['overhead_s']:>17.2f}"
        print(line + "   " + (", ".join(r["loaded"]) or "none"))
    old, new = rows
    ratios = f"import x{old['import_s'] / new['import_s']:.1f}, asset list x{old['list_s'] / new['list_s']:.1f}"
    if not args.no_run:
        ratios += f", overhead per step x{old['overhead_s'] / new['overhead_s']:.1f}"
    print(f"baseline / this tree: {ratios}")


if __name__ == "__main__":
    main()
