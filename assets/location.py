"""The code location put together: every stage's `defs` (the `STAGES` list), the jobs derived from the
graph (`graph.py`), the executor and the resources.

A new stage is one module plus one line in `STAGES`. `semitruths_dagster/definitions.py` is the name
Dagster loads (`-m semitruths_dagster.definitions`, workspace.yaml); it is assembled here, in the
assets layer, so that the demo runner (`demo_run.py`) uses it without importing upwards.
"""

from dagster import Definitions

from resources import PROJECT, GpuResource, ModelsResource

from . import (
    backfill,
    controls,
    detectors,
    generations,
    localization,
    masks,
    metrics,
    prompts,
    released,
    segments,
    sources,
)
from .graph import pipeline_jobs
from .placement import executor

STAGES = [sources, released, segments, masks, prompts, generations, controls, metrics, detectors, localization]
STAGE_ASSETS = [a for stage in STAGES for a in stage.defs.assets or []]

defs = Definitions.merge(
    *(stage.defs for stage in STAGES),
    backfill.defs,  # a job, no assets: one dataset through the whole graph
    Definitions(jobs=pipeline_jobs(STAGE_ASSETS), executor=executor(),
                resources={"project": PROJECT, "models": ModelsResource(), "gpu": GpuResource()}),
)
