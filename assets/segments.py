"""`segments`: labelled masks drawn by a panoptic segmenter for a source whose adapter lists photos only
(`adapter: folder`); any other source gets an empty partition at once (no model loads)."""

from dagster import AssetExecutionContext, Config, Definitions, MaterializeResult, asset

from resources import ModelsResource, ProjectResource
from semitruths_dagster.sources import automatic_masks

from .common import column_schema, counts_table, versioned_result, write_rejections
from .partitions import dataset_partitions
from .placement import gpu_step
from .sources import source_images


class SegmentsRunConfig(Config):
    force: bool = False  # redo every image of the partition (the cache by image hash and model still serves)


@asset(
    partitions_def=dataset_partitions,
    deps=[source_images],
    group_name="sources",
    kinds={"pytorch", "transformers", "parquet"},
    code_version="segments-v1",
    **gpu_step(),
)
def segments(context: AssetExecutionContext, config: SegmentsRunConfig, project: ProjectResource,
             models: ModelsResource) -> MaterializeResult:
    """One row per segment the `segmenter` role (Mask2Former on ADE20K by default; SAM-refined when
    `segments.refine`) found in an accepted image: class label and id, score, thing or stuff, area, mask,
    the model that drew it, and whether the filters (`segments` section: score, area, classes, count,
    overlap) kept it or which one dropped it. Cached by image hash and model; resumable in chunks; images
    the segmenter cannot read are quarantined."""
    from semitruths_dagster.sections import SegmentParams
    from semitruths_dagster.sources import segments_stage as stage
    from semitruths_dagster.storage.resumable import ResumablePartition

    cfg = project.config()
    dataset = context.partition_key
    params = cfg.params("segments", SegmentParams)
    tables = project.tables()
    resumable = ResumablePartition(tables, stage.TABLE, {"dataset": dataset}, stage.KEY, stage.SCHEMA)
    images = []  # a source that lists its own masks: an empty partition
    if automatic_masks(cfg.source(dataset)):
        images = tables.read("source_images", {"dataset": dataset}).to_dicts()
    registry = models.registry(cfg)
    loaded: dict[str, tuple] = {}

    def load() -> tuple:
        if "models" not in loaded:
            loaded["models"] = (registry.load("segmenter"), registry.load("refiner") if params.refine else None)
        return loaded["models"]

    names: tuple = ("none", None, False)
    if images:  # loaded for its recorded name and revision (a source with its own masks loads nothing)
        segmenter, refiner = load()
        names = (stage.model_name(segmenter), refiner and stage.model_name(refiner), segmenter.random_weights)
    frame, rejections, counts = stage.run_segments(images, project.images(), resumable, load, names, params,
                                                   config.force, log=context.log.info)
    quarantined = write_rejections(context, project, stage.STAGE, dataset, rejections)
    project.warehouse().refresh([stage.TABLE, "quarantine"])
    kept = frame.filter(frame["kept"]) if frame.height else frame
    metadata = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(stage.TABLE, stage.SCHEMA),
        "kept": kept.height,
        **quarantined,
        **counts,
        "segmenter": names[0] if images else "none (the source lists its own masks)",
        "by_label": counts_table(kept, "label") if kept.height else "_none_",
    }
    if frame.height and frame["random_weights"].any():
        metadata["warning"] = "Random-weight (tiny) segmenter: its masks and labels are noise, for plumbing only."
    return versioned_result(context, project, stage.TABLE, metadata)


defs = Definitions(assets=[segments])
