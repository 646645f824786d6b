"""Materialize asset selections partition by partition inside this one process (the demo's runner).

The same runs `dagster asset materialize` makes, in the same persistent instance (so the UI shows them),
but without a process start-up, a Python import of torch/diffusers and a model load per partition and
per step: the in-process executor runs every step here, and the libraries' model caches carry over.
Dagster's event logs go to the instance's run history, not to the console.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster import AssetSelection, DagsterEventType, DagsterInstance

from semitruths_dagster.console import StageConsole, add_counts

from .registry_sync import sync

# Dagster's console logger prints every event; the run history keeps them all anyway.
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


class StepFailed(RuntimeError):
    """A materialization failed; the message names the step, the partition, the run id and the error."""


def graph_steps() -> list[tuple[list[str], tuple[str, ...]]]:
    """The demo's steps from the graph (what `python -m assets.demo_steps` prints), in this process."""
    from semitruths_dagster.definitions import STAGE_ASSETS

    from .graph import steps

    return steps(STAGE_ASSETS)


def sync_detector_partitions() -> list[str]:
    return sync(DagsterInstance.get())


def materialize_steps(steps: Sequence[tuple[str, Sequence[str | None]]], console: StageConsole) -> None:
    """Run each (asset selection, partition keys) step in order: one Dagster run per partition."""
    from semitruths_dagster.definitions import defs

    repo = defs.get_repository_def()
    instance = DagsterInstance.get()
    for selection, partitions in steps:
        keys = AssetSelection.from_coercible(selection.split(",")).resolve(repo.asset_graph)
        job = repo.get_implicit_job_def_for_assets(keys)
        if job is None:
            raise StepFailed(f"{selection}: the selected assets do not share one partitioning")
        with console.stage(selection) as rows:
            for partition in console.progress(partitions, selection, len(partitions)):
                result = job.execute_in_process(instance=instance, partition_key=partition, asset_selection=list(keys),
                                                run_config=QUIET, raise_on_error=False)
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
