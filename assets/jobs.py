"""Jobs over the per-dataset graph; the demo and the UI launch them per partition."""

from dagster import AssetSelection, define_asset_job

from .masks import masks
from .partitions import dataset_partitions
from .prompts import perturbed_prompts, prompt_filters
from .released import released_edits
from .sources import source_images

# Every per-dataset asset, in dependency order; later per-dataset stages join this selection.
dataset_pipeline = define_asset_job(
    "dataset_pipeline",
    selection=AssetSelection.assets(source_images, released_edits, masks, perturbed_prompts),
    partitions_def=dataset_partitions,
    description="Materialize every per-dataset stage for one source dataset.",
)

# Stages whose cutoffs come from every dataset at once.
cross_dataset = define_asset_job(
    "cross_dataset",
    selection=AssetSelection.assets(prompt_filters),
    description="Recompute the stages that need all datasets (dataset-wide percentile cutoffs).",
)
