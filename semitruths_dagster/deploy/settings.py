"""The `execution` section of semitruths.yaml: which Dagster executor runs the steps, and where GPU steps go
(defined with the other sections in `sections.py`)."""

from __future__ import annotations

from ..sections import EXECUTORS, ExecutionParams

__all__ = ["EXECUTORS", "ExecutionParams"]
