"""The run's settings travel with it, on every executor (issue 25: workers cannot diverge from the run).

`with_run_settings(definition)` wraps the executor that `execution.executor` picks (in_process,
multiprocess, celery, k8s): before the inner executor starts any step, the orchestrating process records
the configuration of the run's own `project` resource (as the job configures it) as run tags
(deploy/run_settings.py); every step's `project` resource then builds its configuration from them.
A re-execution records its own orchestrator's settings over the tags of the run it re-executes.

`materialize` / `execute_in_process` replace a job's executor with Dagster's in-process one: such a run
records nothing, and its one process uses its own settings for every step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import ExecutorDefinition
from dagster._core.executor.base import Executor
from dagster._core.system_config.objects import ResolvedRunConfig

from resources import ProjectResource
from semitruths_dagster.deploy.run_settings import run_tags


def record_run_settings(plan_context: Any) -> None:
    """Add the run's settings tags (from its `project` resource's configuration in this run)."""
    # The orchestration context keeps the raw run config only: resolved as Dagster resolves it for the steps.
    resolved = ResolvedRunConfig.build(plan_context.job.get_definition(), plan_context.run_config)
    resource = resolved.resources.get("project")
    values = resource.config if resource is not None else None
    if not isinstance(values, dict) or not set(values) <= set(ProjectResource.model_fields):
        return  # no ProjectResource as `project` in this job: no step reads the settings
    config = ProjectResource(**values).config()
    if not config.storage_url:  # made here so that a step elsewhere that lacks it is told so, not given a new one
        with contextlib.suppress(OSError):  # else a step that cannot reach it says so in one line
            Path(config.storage_root).mkdir(parents=True, exist_ok=True)
    plan_context.instance.add_run_tags(plan_context.run_id, run_tags(config))


class RunSettingsExecutor(Executor):
    """The inner executor, which runs once the run's settings are recorded."""

    def __init__(self, inner: Executor) -> None:
        self.inner = inner

    def execute(self, plan_context, execution_plan) -> Iterator[Any]:
        record_run_settings(plan_context)
        yield from self.inner.execute(plan_context, execution_plan)

    @property
    def retries(self):
        return self.inner.retries

    @property
    def step_dependency_config(self):
        return self.inner.step_dependency_config

    def __getattr__(self, name: str) -> Any:  # e.g. the Celery loop's `app_args()`
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def with_run_settings(definition: ExecutorDefinition) -> ExecutorDefinition:
    """`definition` (same name, config schema, requirements) whose executor records the run's settings first."""
    create = definition.executor_creation_fn
    assert create is not None, f"executor {definition.name} has no creation function"
    return ExecutorDefinition(
        name=definition.name, config_schema=definition.config_schema, requirements=definition.get_requirements,
        executor_creation_fn=lambda init_context: RunSettingsExecutor(create(init_context)),
        description=definition.description)
