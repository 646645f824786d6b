"""The models resource: the language / vision models the prompt and metric stages load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource

if TYPE_CHECKING:  # the models package loads transformers: imported in the steps that use it
    from semitruths_dagster.config import ProjectConfig
    from semitruths_dagster.models import ModelRegistry


class ModelsResource(ConfigurableResource):
    """The models of the configuration's `models` section: profile, overrides, device and dtype each have
    their one place there (semitruths.yaml), so a run's models are what the file says.

    Models load once per process (the library caches them), so a run pays each load once.
    """

    def registry(self, config: ProjectConfig) -> ModelRegistry:
        from semitruths_dagster.models import ModelRegistry

        models = config.models
        return ModelRegistry(
            profile=models.profile,
            overrides=models.overrides,
            tiny_root=config.storage_root / "models" / "tiny",
            device=models.device,
            dtype=models.dtype,
        )
