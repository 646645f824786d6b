"""`masks`: every mask of the dataset's accepted images, measured, filtered and preprocessed."""


from collections import Counter

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Definitions,
    MetadataValue,
    asset,
)

from resources.project import ProjectResource
from semitruths_dagster.masks import stage as mask_stage
from semitruths_dagster.sources import automatic_masks, list_source
from semitruths_dagster.sources import segments_stage as segment_stage

from .common import publish_partition, versioned_result
from .partitions import dataset_partitions
from .segments import segments
from .sources import source_images

CHECKS = [
    AssetCheckSpec("area_ratio_in_range", asset="masks", description="0 < area_ratio <= 1 for every mask."),
    AssetCheckSpec("eligible_meet_min_area", asset="masks",
                   description="Eligible masks cover at least min_area_ratio and have a preprocessed mask."),
    AssetCheckSpec("files_in_store", asset="masks", description="Every mask file exists in the image store."),
    AssetCheckSpec("declared_ratio_agrees", asset="masks",
                   description="For masks that were binary, area_ratio matches the metadata's ratio (1e-3)."),
]


@asset(
    partitions_def=dataset_partitions,
    deps=[source_images, segments],
    group_name="sources",
    kinds={"duckdb", "parquet"},
    code_version="masks-v1",
    check_specs=CHECKS,
)
def masks(context: AssetExecutionContext, project: ProjectResource):
    """One row per mask of an accepted image: label, binarized and preprocessed mask paths, area
    ratio, eligibility (min-area filter) and the scene diversity / complexity of its image (binned
    once over every dataset by `bins`). Broken masks land in `quarantine`."""
    config = project.config()
    dataset = context.partition_key
    listing = list_source(config.source(dataset), config.storage_root)
    tables = project.tables()
    if automatic_masks(config.source(dataset)):  # adapter: folder: the masks the segmenter drew
        if not tables.exists(segment_stage.TABLE, {"dataset": dataset}):
            raise FileNotFoundError(f"source '{dataset}' (adapter {config.source(dataset).adapter}) takes its masks "
                                    "from the `segments` asset: materialize it first")
        drawn = tables.read(segment_stage.TABLE, {"dataset": dataset}).to_dicts()
        listing = segment_stage.attach_segments(listing, drawn, project.images())
    images = tables.read("source_images", {"dataset": dataset}).to_dicts()
    rows, rejections = mask_stage.build_masks(listing, images, project.images(), config.masks)
    frame, metadata = publish_partition(
        context, project, table=mask_stage.TABLE, stage=mask_stage.STAGE, rows=rows, schema=mask_stage.SCHEMA,
        rejections=rejections,
        preview_columns=["mask_id", "label", "area_ratio", "eligible", "scene_complexity", "scene_diversity"],
    )
    eligible = frame.filter(frame["eligible"])
    metadata |= {
        "eligible": eligible.height,
        "excluded_min_area": frame.height - eligible.height,
        "min_area_ratio": config.masks.min_area_ratio,
        "scene_diversity": MetadataValue.json({str(k): v for k, v in Counter(frame["scene_diversity"].to_list()).items()}),
        "scene_complexity": MetadataValue.json({str(k): v for k, v in Counter(frame["scene_complexity"].to_list()).items()}),
    }
    yield versioned_result(context, project, mask_stage.TABLE, metadata)

    ratios = frame["area_ratio"]
    yield AssetCheckResult(check_name="area_ratio_in_range",
                           passed=bool(((ratios > 0) & (ratios <= 1)).all()))
    bad = eligible.filter((eligible["area_ratio"] < config.masks.min_area_ratio)
                          | eligible["preprocessed_mask_path"].is_null())
    yield AssetCheckResult(check_name="eligible_meet_min_area", passed=bad.is_empty(),
                           metadata={"violations": bad.height})
    store = project.images()
    paths = frame["mask_path"].to_list() + eligible["preprocessed_mask_path"].to_list()
    missing = [p for p in paths if not store.abspath(p).is_file()]
    yield AssetCheckResult(check_name="files_in_store", passed=not missing, metadata={"missing": len(missing)})
    binary = frame.filter(frame["source_was_binary"] & frame["declared_ratio"].is_not_null())
    worst = float((binary["area_ratio"] - binary["declared_ratio"]).abs().max() or 0.0)
    yield AssetCheckResult(check_name="declared_ratio_agrees", passed=worst <= 1e-3,
                           severity=AssetCheckSeverity.WARN,
                           metadata={"compared": binary.height, "max_abs_difference": worst})


defs = Definitions(assets=[masks])
