"""The Celery executor, with a watch on the workers that run its steps (issue 25: runs end by themselves).

dagster-celery waits on each step's Celery result and nothing else: when the worker running a step is
killed (SIGKILL, a lost host), no result ever comes, the run stays STARTED forever and, at run
granularity, holds its `gpu` pool slot. Here each submitted step is wrapped: once its task has STARTED
(`task_track_started`, also set on the workers by deploy/celery.yaml) the run's process asks the worker
that took it, every `CHECK_S`, whether it still runs the task (`inspect().query_task`). A worker that
does not answer, or answers without the task (restarted under the same name), for `worker_lost_after_s`
in a row has lost the step: it is submitted again (`worker_lost_retries` times; it resumes from its
committed chunks), else the step fails with one line naming the worker, and the run fails.

A pool process that dies under a living worker is reported by Celery itself (WorkerLostError); the
same retry setting applies to it.

The run's settings travel with it as on every executor (`placement.executor` wraps this one,
settings_executor.py): before any step is submitted, the configuration of the run's `project` resource
as this (the orchestrating) process resolves it becomes run tags, from which every step's `project`
resource builds its own, whatever its worker's file and environment say.
"""

from __future__ import annotations

import time
from typing import Any

from celery.exceptions import WorkerLostError
from dagster import Field, IntSource, executor, multiple_process_executor_requirements
from dagster._core.execution.retries import RetryMode
from dagster_celery.executor import CELERY_CONFIG, CeleryExecutor, _submit_task

CHECK_S = 5.0  # between two questions to the worker; a question waits at most REPLY_S
REPLY_S = 3.0


class StepWorkerLost(RuntimeError):
    """The Celery worker running a step stopped answering or dropped the step."""


class WatchedResult:
    """A step's Celery result as the executor's loop uses it (`ready`, `get`, `revoke`), resubmitting or
    failing the step when its worker is lost."""

    def __init__(self, submit, plan_context, step, lost_after_s: float, retries: int) -> None:
        self.submit, self.plan_context, self.step = submit, plan_context, step
        self.lost_after_s, self.retries_left = lost_after_s, retries
        self.inner = submit()
        self.last_seen = time.monotonic()
        self.next_check = 0.0
        self.lost: str | None = None

    def _worker(self) -> str | None:
        """The worker that took the task (None while it waits in the queue)."""
        if self.inner.state != "STARTED":
            return None
        info = self.inner.info
        return info.get("hostname") if isinstance(info, dict) else None

    def _holds_task(self, worker: str) -> bool:
        try:
            replies = self.inner.app.control.inspect(destination=[worker], timeout=REPLY_S).query_task(self.inner.id)
        except Exception:  # the broker is down: the run's own wait on the result fails on that
            return True
        return bool((replies or {}).get(worker, {}).get(self.inner.id))

    def _lose(self, why: str) -> bool:
        """Resubmit (True: not ready yet) or fail the step (False: ready, `get` raises)."""
        log = self.plan_context.log
        if self.retries_left > 0:
            self.retries_left -= 1
            log.warning(f"step {self.step.key}: {why}; submitting it again ({self.retries_left} retries left); "
                        "it resumes from its committed chunks")
            self.inner = self.submit()
            self.last_seen = time.monotonic()
            return True
        self.lost = f"step {self.step.key}: {why}; failing it (execution.worker_lost_retries: 0)"
        log.error(self.lost)
        return False

    def ready(self) -> bool:
        if self.lost:
            return True
        if self.inner.ready():
            if self.inner.failed() and isinstance(self.inner.result, WorkerLostError):
                return not self._lose(f"its Celery pool process died ({self.inner.result})")
            return True
        now = time.monotonic()
        if now < self.next_check:
            return False
        self.next_check = now + CHECK_S
        worker = self._worker()
        if worker is None or self._holds_task(worker):
            self.last_seen = now
            return False
        if now - self.last_seen < self.lost_after_s:
            return False
        return not self._lose(f"Celery worker {worker} has not run it for {now - self.last_seen:.0f} s "
                              "(killed, restarted or its host lost)")

    def get(self, *args: Any, **kwargs: Any):
        if self.lost:
            raise StepWorkerLost(self.lost)
        return self.inner.get(*args, **kwargs)

    def revoke(self, *args: Any, **kwargs: Any) -> None:
        self.inner.revoke(*args, **kwargs)


class WatchedCeleryExecutor(CeleryExecutor):
    def __init__(self, *args: Any, lost_after_s: float, lost_retries: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lost_after_s, self.lost_retries = lost_after_s, lost_retries

    def execute(self, plan_context, execution_plan):
        from dagster_celery.core_execution_loop import core_celery_execution_loop

        def submit(app, context, step, queue, priority, known_state):
            return WatchedResult(lambda: _submit_task(app, context, step, queue, priority, known_state),
                                 context, step, self.lost_after_s, self.lost_retries)

        return core_celery_execution_loop(plan_context, execution_plan, step_execution_fn=submit)


@executor(name="celery", requirements=multiple_process_executor_requirements(), config_schema={
    **CELERY_CONFIG,
    "worker_lost_after_s": Field(IntSource, default_value=60,
                                 description="Seconds a step's worker may not answer before the step is lost"),
    "worker_lost_retries": Field(IntSource, default_value=0,
                                 description="Times a lost step is submitted again before it fails"),
})
def watched_celery_executor(init_context) -> WatchedCeleryExecutor:
    """dagster-celery's executor with the worker watch above."""
    config = init_context.executor_config
    return WatchedCeleryExecutor(
        broker=config.get("broker"), backend=config.get("backend"), config_source=config.get("config_source"),
        include=config.get("include"), retries=RetryMode.from_config(config["retries"]),
        lost_after_s=config["worker_lost_after_s"], lost_retries=config["worker_lost_retries"])
