"""The project resource: the configuration file and the storage it names."""

from __future__ import annotations

from dagster import ConfigurableResource
from pydantic import Field

from semitruths_dagster.config import ProjectConfig, load_config
from semitruths_dagster.storage import ImageStore, TableStore, Warehouse


class ProjectResource(ConfigurableResource):
    """Configuration, stage tables, image store and warehouse of one project."""

    config_path: str = Field(default="", description="semitruths.yaml to use; empty = $SEMITRUTHS_CONFIG or the repo's")
    storage_root: str = Field(default="", description="Overrides the configuration's storage.root when set")

    def config(self) -> ProjectConfig:
        return load_config(self.config_path or None, self.storage_root or None)

    def tables(self) -> TableStore:
        return TableStore(self.config().storage_location)

    def images(self) -> ImageStore:
        return ImageStore(self.config().storage_location)

    def warehouse(self) -> Warehouse:
        return Warehouse(self.config().storage_location)
