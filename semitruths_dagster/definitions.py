"""The one place where assets and resources are put together (the Dagster code location)."""

from dagster import Definitions, load_asset_checks_from_modules, load_assets_from_modules

import assets.detectors
import assets.generations
import assets.masks
import assets.metrics
import assets.prompts
import assets.released
import assets.sources
from assets.jobs import cross_dataset, dataset_pipeline
from assets.placement import executor
from resources import GpuResource, ModelsResource, ProjectResource

STAGE_MODULES = [assets.sources, assets.released, assets.masks, assets.prompts, assets.generations, assets.metrics, assets.detectors]

defs = Definitions(
    assets=load_assets_from_modules(STAGE_MODULES),
    asset_checks=load_asset_checks_from_modules(STAGE_MODULES),
    jobs=[dataset_pipeline, cross_dataset],
    sensors=[assets.detectors.detector_registry, assets.detectors.evaluation_automation],
    schedules=[assets.detectors.detector_reevaluation],
    executor=executor(),
    resources={"project": ProjectResource(), "models": ModelsResource(), "gpu": GpuResource()},
)
