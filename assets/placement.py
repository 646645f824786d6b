"""Where steps run: the executor chosen by `execution.executor`, and the op tags of GPU steps.

Every asset that needs a GPU takes `op_tags=gpu_op_tags()` (and `pool="gpu"`): op tags, not job tags,
because a materialization launched from the UI drops job tags. Under Celery they route the step to the
`gpu` queue; under Kubernetes they ask for one `nvidia.com/gpu` with the configured tolerations and node
selector. Every other step goes to the `cpu` queue (the Celery executor's default queue, set below).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from dagster import ExecutorDefinition, in_process_executor, multiprocess_executor

from resources import PROJECT
from semitruths_dagster.deploy import ExecutionParams

from .settings_executor import with_run_settings

CELERY_QUEUE_TAG = "dagster-celery/queue"
K8S_CONFIG_TAG = "dagster-k8s/config"
# Longer than the longest step (a 40,000-image generation shard is days): Redis would otherwise hand a
# still-running step to a second worker once this passes. Steps commit in chunks, so even then no row
# is made twice, but the GPU time would be.
VISIBILITY_TIMEOUT_S = 14 * 24 * 3600


@cache
def execution_params() -> ExecutionParams:
    return PROJECT.config().params("execution", ExecutionParams)


def gpu_op_tags(params: ExecutionParams | None = None) -> dict[str, Any]:
    """Op tags of a step that needs one GPU (Celery queue + Kubernetes resources and placement)."""
    params = params or execution_params()
    pod_spec: dict[str, Any] = {"tolerations": list(params.gpu_tolerations)}
    if params.gpu_node_selector:
        pod_spec["node_selector"] = dict(params.gpu_node_selector)
    return {
        CELERY_QUEUE_TAG: params.gpu_queue,
        K8S_CONFIG_TAG: {
            "container_config": {"resources": {"limits": {"nvidia.com/gpu": 1}, "requests": {"nvidia.com/gpu": 1}}},
            "pod_spec_config": pod_spec,
        },
    }


def celery_config_source(params: ExecutionParams) -> dict[str, Any]:
    """Celery settings shared by the executor and `deploy/celery.yaml` (the workers)."""
    return {
        "task_default_queue": params.cpu_queue,
        "broker_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "result_backend_transport_options": {"visibility_timeout": VISIBILITY_TIMEOUT_S},
        "worker_prefetch_multiplier": 1,  # a worker takes one step at a time, never holds a second
        # A taken step reports STARTED with its worker's name: the run watches that worker (celery_watch.py).
        "task_track_started": True,
        # print() of a step goes to the process's stdout, which Dagster's compute log capture reads (the
        # UI's step logs); Celery would otherwise turn it into worker log lines.
        "worker_redirect_stdouts": False,
        # Workers answer `semitruths deploy check` with the settings they would run steps with.
        "include": ["semitruths_dagster.deploy.worker_report"],
    }


def executor(params: ExecutionParams | None = None) -> ExecutorDefinition:
    """The executor named by `execution.executor` (the integrations import only when chosen); whichever
    it is, the run's settings are recorded as run tags before its first step (settings_executor.py)."""
    return with_run_settings(_chosen(params or execution_params()))


def _chosen(params: ExecutionParams) -> ExecutorDefinition:
    if params.executor == "celery":
        from .celery_watch import watched_celery_executor

        return watched_celery_executor.configured({
            "broker": {"env": "DAGSTER_CELERY_BROKER_URL"},
            "backend": {"env": "DAGSTER_CELERY_BACKEND_URL"},
            "config_source": celery_config_source(params),
            "worker_lost_after_s": params.worker_lost_after_s,
            "worker_lost_retries": params.worker_lost_retries,
        }, name="celery")
    if params.executor == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if params.executor == "in_process":  # every step in the run's process: no process start per step
        return in_process_executor
    if params.max_concurrent:
        return multiprocess_executor.configured({"max_concurrent": params.max_concurrent}, name="multiprocess")
    return multiprocess_executor


def gpu_step() -> dict[str, Any]:
    """Keyword arguments of every asset that needs a GPU: `@asset(..., **gpu_step())`.

    The op tags route it (Celery queue, Kubernetes GPU request); the `gpu` pool lets only as many such
    runs start at once as its limit (set it to the number of GPUs: `dagster instance concurrency set gpu N`).
    """
    return {"op_tags": gpu_op_tags(), "pool": "gpu"}
