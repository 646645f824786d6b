"""`semitruths`: run the demo, open the UI and query the warehouse, through Dagster's own CLI.

Every command points DAGSTER_HOME at a persistent folder (default `var/dagster_home`, or your own
DAGSTER_HOME) holding a link to the project's `dagster.yaml`, so runs, materializations and
partitions survive restarts and show up in `dagster dev`.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from .config import PROJECT_ROOT, ConfigError, load_config
from .storage import Warehouse
from .storage.location import StorageError

if TYPE_CHECKING:
    from .detectors.stage import DetectorParams

UI_HOST = "127.0.0.1"


def dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / "var" / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    link = home / "dagster.yaml"
    if not link.exists() and not link.is_symlink():
        link.symlink_to(PROJECT_ROOT / "dagster.yaml")
    if not (home / "storage").exists():
        # Create the instance's SQLite schema once, before parallel runs race to create it.
        subprocess.run(dagster_cli("instance", "migrate"), check=True, capture_output=True,
                       env=dict(os.environ, DAGSTER_HOME=str(home), DAGSTER_DISABLE_TELEMETRY="1"))
    return home


def dagster_env() -> dict[str, str]:
    env = dict(os.environ, DAGSTER_HOME=str(dagster_home()), DAGSTER_DISABLE_TELEMETRY="1")
    if load_config().models.profile == "tiny":
        env.setdefault("HF_HUB_OFFLINE", "1")  # the tiny profile never needs the hub
    return env


def dagster_cli(*args: str) -> list[str]:
    exe = shutil.which("dagster", path=str(Path(sys.executable).parent)) or "dagster"
    return [exe, *args]


def print_summary() -> None:
    config = load_config()
    warehouse = Warehouse(config.storage_location)
    warehouse.refresh()
    print("\nTables (DuckDB views over Parquet partitions):")
    for table in warehouse.names():
        (count,) = warehouse.query(f'SELECT count(*) FROM "{table}"')[0]
        print(f"  {table:<22} {count:>8} rows")
    rules = warehouse.query("SELECT stage, rule, count(*) FROM quarantine GROUP BY ALL ORDER BY ALL") \
        if "quarantine" in warehouse.tables.tables() else []
    for stage, rule, count in rules:
        print(f"  quarantine: {stage}/{rule}: {count}")
    reports = warehouse.root / "reports"
    for report in sorted(reports.glob("*/report.html")) if reports.exists() else []:
        print(f"Report:    {report}")
    if (reports / "leaderboard.html").is_file():
        print(f"Leaderboard: {reports / 'leaderboard.html'}")
    if reports.exists():
        from .sections import ReportParams

        print(f"Reports in the browser: .venv/bin/semitruths reports   ({config.params('reports', ReportParams).url('')})")
    print(f"\nStorage:   {config.storage_location}")
    if warehouse.shared_file:
        print(f"Warehouse: duckdb {warehouse.path}   (e.g. SELECT * FROM masks)")
    else:
        print('Warehouse: semitruths warehouse --query "SELECT * FROM masks"   (views over the object store)')
    print(f"Dagster:   DAGSTER_HOME={dagster_home()}")
    print("Open the UI: .venv/bin/semitruths ui   (http://127.0.0.1:3000)")


def cmd_demo(args: argparse.Namespace) -> None:
    """Run the demo in one process of the assets layer (`python -m assets.demo_run`), which owns the
    Dagster side: this library does not import Dagster."""
    argv = [sys.executable, "-m", "assets.demo_run", *itertools.chain.from_iterable(["--dataset", d] for d in args.dataset or [])]
    sys.stdout.flush()
    os.execve(sys.executable, argv, dict(dagster_env(), SEMITRUTHS_DEMO="1"))


def detector_params(config) -> tuple[DetectorParams, Path]:
    from .detectors.stage import DetectorParams

    params = config.params("detectors", DetectorParams)
    return params, params.registry_dir(config.path.parent)


def register_demo_detectors(config, sync: Callable[[], list[str]]) -> list[str]:
    """The demo's detectors: real plugins on seeded random weights, saved in their real checkpoint
    formats and labelled random_weights (every report they make says so first)."""
    from .detectors import write_random_detector

    params, registry = detector_params(config)
    for plugin in params.demo:
        write_random_detector(plugin, registry, params.weights_dir(config.path.parent))
    return sync()


def cmd_detector(args: argparse.Namespace) -> None:
    # The detector package pulls in torch and torchvision: imported here, not for every command.
    from .detectors import add_spec, write_random_detector
    from .detectors import cli_tools as detector_tools

    config = load_config()
    params, registry = detector_params(config)
    if args.action == "add":
        data = yaml.safe_load(Path(args.spec).read_text())
        base = Path(args.spec).resolve().parent
        for role, ref in (data.get("weights") or {}).items():  # keep relative weight paths pointing where they did
            if isinstance(ref, str) and (base / ref).exists():
                data["weights"][role] = str((base / ref).resolve())
        for item in data.get("golden") or []:  # golden images too
            if isinstance(item, dict) and isinstance(item.get("image"), str) and (base / item["image"]).exists():
                item["image"] = str((base / item["image"]).resolve())
        path = add_spec(registry, data, overwrite=args.overwrite)
    elif args.action in ("verify", "convert", "fit-probe"):
        sys.exit(detector_tools.run(args, config, params, registry))
    else:
        path = write_random_detector(args.spec, registry, params.weights_dir(config.path.parent), name=args.name)
    print(f"registered {path}; with `semitruths ui` running, its predictions and report follow by themselves")


def cmd_ui(args: argparse.Namespace) -> None:
    cmd = dagster_cli("dev", "-h", args.host, "-p", str(args.port), "-w", str(PROJECT_ROOT / "workspace.yaml"))
    print(f"$ DAGSTER_HOME={dagster_home()} {' '.join(cmd)}", flush=True)
    # The report server beside the UI: the `report` links of `evaluation` and `leaderboard` open its pages.
    reports = None if args.no_reports else subprocess.Popen([sys.executable, "-m", "semitruths_dagster.report_server"])
    # Run from DAGSTER_HOME: the workspace file carries the code's path, and Dagster warns about a
    # dagster.yaml in the working folder that is not DAGSTER_HOME's.
    try:
        sys.exit(subprocess.run(cmd, env=dagster_env(), cwd=dagster_home()).returncode)
    except KeyboardInterrupt:  # Ctrl-C reached dagster dev too: it shuts down by itself
        sys.exit(130)
    finally:
        if reports is not None:
            reports.terminate()
            reports.wait()


def cmd_reports(args: argparse.Namespace) -> None:
    from .report_server import main as serve

    serve([*(["--host", args.host] if args.host else []), *(["--port", str(args.port)] if args.port else [])])


def cmd_warehouse(args: argparse.Namespace) -> None:
    if not args.query:
        print_summary()
        return
    import duckdb

    warehouse = Warehouse(load_config().storage_location)
    try:
        rows = warehouse.query(args.query)
    except duckdb.CatalogException as exc:  # a table with no partition yet: one line naming it
        missing = re.search(r"Table with name (\S+) does not exist", str(exc))
        if not missing:
            sys.exit(f"semitruths warehouse: {str(exc).strip().splitlines()[0]}")
        sys.exit(f"semitruths warehouse: no table '{missing.group(1)}' yet (no partition of it is committed; "
                 f"materialize it first); tables now: {', '.join(warehouse.names()) or 'none'}")
    except duckdb.Error as exc:
        sys.exit(f"semitruths warehouse: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
    for row in rows:
        print("\t".join(map(str, row)))


def cmd_export(args: argparse.Namespace) -> None:
    from .sources.released_export import export_released
    from .storage import ImageStore, TableStore

    root = load_config().storage_location
    try:
        counts = export_released(TableStore(root), ImageStore(root), Path(args.out).resolve(), args.only_salient)
    except (FileExistsError, ValueError) as exc:
        sys.exit(f"semitruths export: {exc}")
    print(f"exported {counts['real']} real and {counts['fake']} edited images to {args.out} (metadata.csv); "
          f"read it back with a source `{{adapter: released, root: {args.out}}}`")
    if counts["random_weights"]:
        print("RANDOM WEIGHTS: the edits were made by random-weight models (noise, for plumbing only).")


def cmd_compare_paper(args: argparse.Namespace) -> None:
    """This run's detector figures beside the paper's (`evaluation/paper.py`); the first line says whether
    anything can be compared. Writes paper_comparison.html / .txt beside the reports."""
    from .evaluation.paper_report import render_text, write_comparison
    from .evaluation.paper_run import compare_stored
    from .storage import TableStore

    config = load_config()
    params, _ = detector_params(config)
    n_boot = params.n_boot if args.n_boot is None else args.n_boot
    comparison = compare_stored(config, TableStore(config.storage_location), n_boot)
    page, _ = write_comparison(comparison, config.storage_root / "reports")
    print(render_text(comparison), end="")
    print(f"\nwritten: {page}")


def cmd_deploy(args: argparse.Namespace) -> None:
    from .deploy.check import run_checks

    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / "var" / "dagster_home").resolve()
    findings = run_checks(load_config(), home)
    for finding in findings:
        print(finding.line())
    if not all(f.ok for f in findings):
        sys.exit("semitruths deploy check: something is missing (see MISSING above and README 'Scaling out')")
    print("every component is reachable")


def cmd_env(args: argparse.Namespace) -> None:
    print(f"export DAGSTER_HOME={dagster_home()}")


def add_detector_tool_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `semitruths detector verify | convert | fit-probe` (run by detectors.cli_tools)."""
    parser.add_argument("--out", help="convert: folder for the converted weights and spec (default: <weights>/converted)")
    parser.add_argument("--device", default="cpu", help="verify: where to run the golden images")
    parser.add_argument("--features", choices=["clip", "dinov2"], default="clip", help="fit-probe: the frozen features")
    parser.add_argument("--backbone", default="open_clip:ViT-L-14/openai",
                        help="fit-probe: open_clip ref / folder (clip) or timm DINOv2 ref / file (dinov2)")
    parser.add_argument("--dataset", help="fit-probe: the dataset partition the split is drawn from")
    parser.add_argument("--fraction", type=float, default=0.5, help="fit-probe: share of its image ids to train on")
    parser.add_argument("--seed", type=int, default=0, help="fit-probe: seed of the split and the fit")
    parser.add_argument("--C", dest="c", type=float, default=1.0, help="fit-probe: inverse regularisation strength")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="semitruths", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="materialize the whole graph on the embedded sample")
    demo.add_argument("--dataset", action="append", help="a configured source (default: embedded ones)")
    demo.set_defaults(func=cmd_demo)
    ui = sub.add_parser("ui", help="open the Dagster UI (dagster dev)")
    ui.add_argument("--host", default=UI_HOST, help="bind address (default 127.0.0.1: this machine only)")
    ui.add_argument("--port", type=int, default=3000)
    ui.add_argument("--no-reports", action="store_true", help="without the report server (`semitruths reports`)")
    ui.set_defaults(func=cmd_ui)
    rep = sub.add_parser("reports", help="serve <storage>/reports (reports, leaderboard) for the UI's links")
    rep.add_argument("--host", help="bind address (default: reports.host, 127.0.0.1)")
    rep.add_argument("--port", type=int, help="(default: reports.port)")
    rep.set_defaults(func=cmd_reports)
    wh = sub.add_parser("warehouse", help="refresh the DuckDB views and print row counts, or answer --query")
    wh.add_argument("--query", help="SQL over the stage tables (local folder or object store), rows tab-separated")
    wh.set_defaults(func=cmd_warehouse)
    det = sub.add_parser("detector", help="register a detector spec in the registry the sensor watches")
    det.add_argument("action", choices=["add", "add-random", "verify", "convert", "fit-probe"],
                     help="add: copy a spec file in; add-random: a plugin with seeded random weights; verify: "
                          "digests + golden images of a registered detector; convert: its weights as "
                          "safetensors + a spec; fit-probe: fit a linear_probe head on a split")
    det.add_argument("spec", help="spec file (add), plugin (add-random), or detector name (verify, convert, fit-probe)")
    det.add_argument("--name", help="add-random: the detector's name; convert: the converted spec's name")
    det.add_argument("--overwrite", action="store_true", help="replace a spec of the same name")
    add_detector_tool_arguments(det)
    det.set_defaults(func=cmd_detector)
    export = sub.add_parser("export", help="write the results in the released evaluation set's layout")
    export.add_argument("out", help="a new folder for metadata.csv and the image folders")
    export.add_argument("--only-salient", action="store_true", help="only edits that passed saliency (as released)")
    export.set_defaults(func=cmd_export)
    paper = sub.add_parser("compare-paper", help="this run's detector figures beside the paper's Tables 3-4 and "
                                                 "Figures 5-7, with 95%% intervals (HTML beside the reports)")
    paper.add_argument("--n-boot", type=int, help="bootstrap resamples (default: detectors.n_boot)")
    paper.set_defaults(func=cmd_compare_paper)
    deploy = sub.add_parser("deploy", help="scale-out: check the instance database, broker, workers and storage")
    deploy.add_argument("action", choices=["check"])
    deploy.set_defaults(func=cmd_deploy)
    sub.add_parser("env", help="print the DAGSTER_HOME export for using `dagster` directly").set_defaults(
        func=cmd_env)
    args = parser.parse_args(argv)
    try:
        if args.command != "env":
            load_config()  # every section checked (the demo overlay too) before a command starts anything
        args.func(args)
    except subprocess.CalledProcessError as exc:
        sys.exit(f"semitruths: step failed ({exc.returncode}): {' '.join(exc.cmd)}")
    except (ConfigError, StorageError) as exc:  # one line naming the file and the setting
        sys.exit(f"semitruths: {exc}")


if __name__ == "__main__":
    main()
