"""Dagster resources that hand the library's configuration, storage, models and devices to assets."""

from .project import ProjectResource

__all__ = ["ProjectResource"]
