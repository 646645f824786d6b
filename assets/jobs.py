"""Jobs over the per-dataset graph; the demo and the UI launch them per partition."""

from dagster import AssetSelection, define_asset_job

from .masks import masks
from .partitions import dataset_partitions
from .sources import source_images

# Every per-dataset asset, in dependency order; later stages join this selection.
dataset_pipeline = define_asset_job(
    "dataset_pipeline",
    selection=AssetSelection.assets(source_images, masks),
    partitions_def=dataset_partitions,
    description="Materialize every per-dataset stage for one source dataset.",
)
