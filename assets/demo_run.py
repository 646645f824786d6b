"""`python -m assets.demo_run` (what `semitruths demo` runs): materialize the whole graph partition by
partition inside this one process.

The same runs `dagster asset materialize` makes, in the same persistent instance (so the UI shows them),
but without a process start-up, a Python import of torch/diffusers and a model load per partition and
per step: the in-process executor runs every step here, and the libraries' model caches carry over.
Dagster's event logs go to the instance's run history, not to the console.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from collections.abc import Sequence

from dagster import AssetSelection, DagsterEventType, DagsterInstance
from dagster._core.remote_origin import RemoteRepositoryOrigin
from dagster._core.storage.tags import REPOSITORY_LABEL_TAG

from semitruths_dagster.cli import print_summary, register_demo_detectors
from semitruths_dagster.config import PROJECT_ROOT, load_config
from semitruths_dagster.console import StageConsole, add_counts, filter_harmless_warnings
from semitruths_dagster.generation.stage import GenerationParams

# workspace.yaml's code location (what `dagster dev` and `semitruths ui` load)
CODE_LOCATION_MODULE, CODE_LOCATION_NAME = "semitruths_dagster.definitions", "semitruths"
# Dagster's console logger prints every event; the run history keeps them all anyway.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class StepFailed(RuntimeError):
    """A materialization failed; the message names the step, the partition, the run id and the error."""


def graph_steps() -> list[tuple[list[str], tuple[str, ...]]]:
    """The demo's steps from the graph, in this process."""
    from .graph import steps
    from .location import STAGE_ASSETS

    return steps(STAGE_ASSETS)


def sync_detector_partitions() -> list[str]:
    """A dynamic partition for every valid detector spec in the registry: what the `detector_registry`
    sensor does on its tick, here without the daemon. Invalid specs are the sensor's to report."""
    from resources import PROJECT
    from semitruths_dagster.detectors import scan_registry

    from .detectors import registry_dir  # imports the asset modules: after `filter_harmless_warnings`
    from .partitions import detector_partitions

    names = sorted(scan_registry(registry_dir(PROJECT))[0])
    instance = DagsterInstance.get()
    existing = set(instance.get_dynamic_partitions(detector_partitions.name))
    instance.add_dynamic_partitions(detector_partitions.name, [n for n in names if n not in existing])
    return names


def code_location_origin(repository_name: str) -> RemoteRepositoryOrigin:
    """The origin `dagster dev` gives this code location (workspace.yaml: module, location `semitruths`).
    The UI's Overview groups runs by their origin's code location; a run
    executed in process has none and would be missing there."""
    from dagster._core.remote_origin import ManagedGrpcPythonEnvCodeLocationOrigin
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    target = LoadableTargetOrigin(executable_path=sys.executable, module_name=CODE_LOCATION_MODULE,
                                  working_directory=str(PROJECT_ROOT))
    location = ManagedGrpcPythonEnvCodeLocationOrigin(target, CODE_LOCATION_NAME)
    return RemoteRepositoryOrigin(location, repository_name)


def tag_with_code_location(instance: DagsterInstance, run_id: str, origin: RemoteRepositoryOrigin) -> None:
    """Give a finished in-process run the origin (and its `.dagster/repository` tag) of the code location,
    as the runs the UI launches carry, so that it shows in the Overview and the location's run list."""
    storage = instance.run_storage
    run = instance.get_run_by_id(run_id)
    if run is not None and hasattr(storage, "replace_job_origin"):  # SQL run storages (SQLite, PostgreSQL)
        storage.replace_job_origin(run, origin.get_job_origin(run.job_name))


def materialize_steps(steps: Sequence[tuple[str, Sequence[str | None]]], console: StageConsole) -> None:
    """Run each (asset selection, partition keys) step in order: one Dagster run per partition."""
    from .location import defs

    repo = defs.get_repository_def()
    instance = DagsterInstance.get()
    origin = code_location_origin(repo.name)
    # the tag row must exist at creation: replace_job_origin updates its value
    tags = {REPOSITORY_LABEL_TAG: origin.get_label()}
    for selection, partitions in steps:
        keys = AssetSelection.from_coercible(selection.split(",")).resolve(repo.asset_graph)
        job = repo.get_implicit_job_def_for_assets(keys)
        if job is None:
            raise StepFailed(f"{selection}: the selected assets do not share one partitioning")
        with console.stage(selection) as rows:
            for partition in console.progress(partitions, selection, len(partitions)):
                result = job.execute_in_process(instance=instance, partition_key=partition, asset_selection=list(keys),
                                                run_config=QUIET, raise_on_error=False, tags=tags)
                tag_with_code_location(instance, result.run_id, origin)
                if not result.success:
                    raise StepFailed(f"{selection} [{partition or 'unpartitioned'}] failed in run {result.run_id}:\n"
                                     f"{_failure_text(result)}")
                add_counts(rows, _row_counts(result))


def _row_counts(result) -> dict[str, int]:
    counts: dict[str, int] = {}
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        value = materialization.metadata.get("dagster/row_count")
        if value is not None:
            counts[materialization.asset_key.to_user_string()] = int(value.value)
    return counts


def _failure_text(result) -> str:
    lines = []
    for event in result.all_events:
        error = event.step_failure_data.error if event.event_type == DagsterEventType.STEP_FAILURE else None
        while error is not None:  # the error and its causes; the full stack traces are in the run's logs
            lines.append(f"  {event.step_key}: {error.cls_name}: {error.message.strip()}")
            error = error.cause
    return "\n".join(lines + ["  (stack traces: the run's page in the UI, `semitruths ui`)"])


def main(argv: Sequence[str] | None = None) -> None:
    """The demo: every stage on the embedded sample (or `--dataset`), one console line per stage."""
    parser = argparse.ArgumentParser(prog="semitruths demo")
    parser.add_argument("--dataset", action="append", help="a configured source (default: embedded ones)")
    args = parser.parse_args(argv)
    filter_harmless_warnings()  # the `demo:` settings of semitruths.yaml, a console without known noise
    config = load_config()
    datasets = args.dataset or [s.name for s in config.sources.values() if s.adapter == "embedded"]
    for dataset in datasets:
        config.source(dataset)  # fail early on a name that is not configured
    generators = config.params("generation", GenerationParams).generators
    detectors = register_demo_detectors(config, sync_detector_partitions)
    values = {"dataset": datasets, "generator": generators, "detector": detectors}
    # One run per partition key: the step's dimensions (in name order) joined by '|'; none: one run.
    plan = [(",".join(select), ["|".join(key) or None for key in itertools.product(*(values[d] for d in over))])
            for select, over in graph_steps()]
    console = StageConsole(len(plan))
    print(f"Demo on {', '.join(datasets)}: {len(plan)} stages, every run recorded in DAGSTER_HOME "
          f"(logs in the UI); random-weight models: the images and scores are plumbing, not science.", flush=True)
    try:
        materialize_steps(plan, console)
    except StepFailed as exc:  # a failed step: its error and run id, not a Dagster traceback wall
        sys.exit(f"semitruths demo: {exc}")
    print(f"\nDemo finished in {console.elapsed():.1f} s for {', '.join(datasets)}.")
    print_summary()


if __name__ == "__main__":
    main()
