"""Dagster resources that hand the library's configuration, storage, models and devices to assets."""

from .gpu import GpuResource
from .models import ModelsResource
from .project import ProjectResource

# The project of this code location: bound as the `project` resource in definitions.py, and read at
# load time by the partitions and the schedule, so every part of the graph sees one configuration.
PROJECT = ProjectResource()

__all__ = ["PROJECT", "GpuResource", "ModelsResource", "ProjectResource"]
