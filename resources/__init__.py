"""Dagster resources that hand the library's configuration, storage, models and devices to assets."""

from .gpu import GpuResource
from .models import ModelsResource
from .project import ProjectResource

__all__ = ["GpuResource", "ModelsResource", "ProjectResource"]
