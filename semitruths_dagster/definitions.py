"""The one place where the stages and the resources are put together (the Dagster code location).

Each `assets/<stage>.py` owns its assets, checks, sensors and schedules in a `defs`; a new stage is one
module plus one line in `STAGES`. The jobs are derived from the graph (assets/graph.py).
"""

from dagster import Definitions

import assets.controls
import assets.detectors
import assets.generations
import assets.masks
import assets.metrics
import assets.prompts
import assets.released
import assets.sources
from assets.graph import pipeline_jobs
from assets.placement import executor
from resources import PROJECT, GpuResource, ModelsResource

STAGES = [assets.sources, assets.released, assets.masks, assets.prompts, assets.generations, assets.controls, assets.metrics,
          assets.detectors]
STAGE_ASSETS = [a for stage in STAGES for a in stage.defs.assets or []]

defs = Definitions.merge(
    *(stage.defs for stage in STAGES),
    Definitions(jobs=pipeline_jobs(STAGE_ASSETS), executor=executor(),
                resources={"project": PROJECT, "models": ModelsResource(), "gpu": GpuResource()}),
)
