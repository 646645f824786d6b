"""The `execution` section of semitruths.yaml: which Dagster executor runs the steps, and where GPU steps go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError

EXECUTORS = ("multiprocess", "celery", "k8s")


@dataclass(frozen=True)
class ExecutionParams:
    """executor: multiprocess (one machine, the default) | celery (workers on queues `gpu` / `cpu`) |
    k8s (one pod per step). GPU steps go to `gpu_queue` and, on Kubernetes, ask for one `nvidia.com/gpu`
    with `gpu_tolerations` / `gpu_node_selector`; every other step goes to `cpu_queue`."""

    executor: str = "multiprocess"
    max_concurrent: int = 0  # multiprocess: steps at once (0 = one per CPU)
    gpu_queue: str = "gpu"
    cpu_queue: str = "cpu"
    gpu_tolerations: list[dict[str, Any]] = field(default_factory=lambda: [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}])
    gpu_node_selector: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise ConfigError(f"execution.executor: '{self.executor}' is not one of {', '.join(EXECUTORS)}")
