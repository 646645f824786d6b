"""The Dagster code location (`dagster ... -m semitruths_dagster.definitions`, workspace.yaml).

The only library module that imports Dagster. The stages, jobs, executor and resources are put together
in `assets/location.py` (a new stage: one module plus one line in its `STAGES`).
Loading it imports no torch, transformers, diffusers, timm, open_clip or scikit-learn: models load in
the steps that use them (tests/test_architecture.py checks it).
"""

from assets.location import STAGE_ASSETS, STAGES, defs

__all__ = ["STAGES", "STAGE_ASSETS", "defs"]
