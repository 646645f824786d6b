"""Scale-out settings (executor, queues, Kubernetes GPU placement) and the `semitruths deploy check` probes."""

from .settings import EXECUTORS, ExecutionParams

__all__ = ["EXECUTORS", "ExecutionParams"]
