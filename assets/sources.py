"""`source_images`: the real images of one source dataset, validated and copied into the image store."""


from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Definitions,
    asset,
)

from resources.project import ProjectResource
from semitruths_dagster.sources import ingest_stage, list_source

from .common import publish_partition, versioned_result
from .partitions import dataset_partitions

CHECKS = [
    AssetCheckSpec("unique_image_ids", asset="source_images", description="No image_id appears twice."),
    AssetCheckSpec("files_in_store", asset="source_images",
                   description="Every image_path exists in the image store."),
    AssetCheckSpec("mostly_accepted", asset="source_images",
                   description="Warns when more than half of the listed images were quarantined."),
]


@asset(
    partitions_def=dataset_partitions,
    group_name="sources",
    kinds={"duckdb", "parquet"},
    code_version="source_images-v1",
    check_specs=CHECKS,
)
def source_images(context: AssetExecutionContext, project: ProjectResource):
    """One row per real image of the dataset: id, benchmark, store path, size, entity classes,
    content hash. Images that break a rule (unreadable, empty, not RGB, outside the root, missing,
    malformed metadata row) land in the `quarantine` table with the rule and the file instead."""
    config = project.config()
    source = config.source(context.partition_key)
    listing = list_source(source, config.storage_root)
    rows, rejections = ingest_stage.ingest_images(listing, project.images())
    frame, metadata = publish_partition(
        context, project, table=ingest_stage.TABLE, stage=ingest_stage.STAGE, rows=rows, schema=ingest_stage.SCHEMA,
        rejections=rejections, preview_columns=["image_id", "benchmark", "width", "height", "scene_diversity"],
    )
    yield versioned_result(context, project, ingest_stage.TABLE, metadata)
    store = project.images()
    yield AssetCheckResult(check_name="unique_image_ids", passed=frame["image_id"].is_unique().all(),
                           metadata={"rows": frame.height})
    missing = [p for p in frame["image_path"] if not store.abspath(p).is_file()]
    yield AssetCheckResult(check_name="files_in_store", passed=not missing, metadata={"missing": len(missing)})
    listed = frame.height + len(rejections)
    yield AssetCheckResult(check_name="mostly_accepted", passed=frame.height * 2 >= listed,
                           severity=AssetCheckSeverity.WARN,
                           metadata={"accepted": frame.height, "listed": listed})


defs = Definitions(assets=[source_images])
