"""The models resource: which language / vision models the prompt and metric stages load."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import ConfigurableResource
from pydantic import Field

if TYPE_CHECKING:  # the models package loads transformers: imported in the steps that use it
    from semitruths_dagster.config import ProjectConfig
    from semitruths_dagster.models import ModelRegistry


class ModelsResource(ConfigurableResource):
    """Model profile and dtype; empty fields take `models.*` from semitruths.yaml (the device always does,
    shared with generators and detectors).

    Models load once per process (the library caches them), so a run pays each load once.
    """

    profile: str = Field(default="", description="tiny | paper; empty = models.profile of the configuration")
    dtype: str = Field(default="", description="auto | float32 | float16 | bfloat16; empty = models.dtype")

    def registry(self, config: ProjectConfig) -> ModelRegistry:
        from semitruths_dagster.models import ModelRegistry

        models = config.models
        return ModelRegistry(
            profile=self.profile or models.profile,
            overrides=models.overrides,
            tiny_root=config.storage_root / "models" / "tiny",
            device=models.device,
            dtype=self.dtype or models.dtype,
        )
