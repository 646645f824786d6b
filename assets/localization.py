"""Localization: per-pixel maps of where each image was edited (dataset x detector) and their scores
against the edit masks (per detector), appended to the detector's report.

Map-output detectors give their own maps; every other detector named in `localization.sliding_window`
(null: all) gets a sliding-window map. Maps commit in chunks (a killed run resumes) and are cached like
scores. The evaluation follows by automation, after the detector's own evaluation (whose report it
extends).
"""

from pathlib import Path

from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetSelection,
    AutomationConditionSensorDefinition,
    Config,
    DefaultSensorStatus,
    Definitions,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from resources import GpuResource, ProjectResource
from semitruths_dagster import quarantine
from semitruths_dagster.conditions import ConditionParams
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.localization import stage as loc_stage
from semitruths_dagster.sections import LocalizationParams
from semitruths_dagster.storage.location import publish_dir
from semitruths_dagster.storage.resumable import ResumablePartition

from .common import (
    column_schema,
    counts_table,
    markdown_table,
    partition_of,
    versioned_result,
    write_rejections,
)
from .controls import controls
from .detectors import AFTER_UPSTREAM, detector_params, evaluation, registry_dir, report_url
from .generations import generations
from .masks import masks
from .metrics import bins, change_metrics, saliency_labels
from .partitions import detector_partitions, prediction_partitions
from .placement import gpu_step
from .released import released_edits
from .sources import source_images

BY_DATASET = MultiToSingleDimensionPartitionMapping(partition_dimension_name="dataset")
BY_DETECTOR = MultiToSingleDimensionPartitionMapping(partition_dimension_name="detector")
ALL = AllPartitionMapping()


class LocalizationRunConfig(Config):
    force: bool = False  # remake every map of the partition, even those already stored


def localization_params(project: ProjectResource) -> LocalizationParams:
    return project.config().params("localization", LocalizationParams)


@asset(
    partitions_def=prediction_partitions,
    deps=[AssetDep(source_images, partition_mapping=BY_DATASET), AssetDep(masks, partition_mapping=BY_DATASET),
          AssetDep(released_edits, partition_mapping=BY_DATASET), AssetDep(generations, partition_mapping=ALL),
          AssetDep(controls, partition_mapping=ALL), saliency_labels, AssetDep(change_metrics, partition_mapping=ALL)],
    group_name="localization",
    kinds={"pytorch", "parquet"},
    code_version="localization_predictions-v1",
    **gpu_step(),
)
def localization_predictions(context: AssetExecutionContext, config: LocalizationRunConfig, project: ProjectResource,
                             gpu: GpuResource) -> MaterializeResult:
    """One row per (image, condition) of the dataset that the detector maps: the map's store path and
    hash (8-bit PNG, longer side at most `localization.map_size`), how it was made (native map or
    sliding window and its settings), its maximum, the plugin's own P(fake) where it gives one, and a
    cache key (detector, version, image hash, signature, map settings, condition). Committed in chunks;
    `random_weights` marks maps of random-weight detectors (noise)."""
    from semitruths_dagster.detectors import (  # torch: in the step
        DETECTOR_PLUGINS,
        build_detector,
        scan_registry,
    )
    from semitruths_dagster.sources.released_stage import released_frame

    partition = partition_of(context)
    dataset, name = partition["dataset"], partition["detector"]
    cfg, dparams, params = project.config(), detector_params(project), localization_params(project)
    specs, refused = scan_registry(registry_dir(project))
    if name not in specs:
        raise ValueError(f"detector '{name}' is not a valid spec in {registry_dir(project)}: "
                         + ("; ".join(refused.values()) or "no such name"))
    tables = project.tables()
    resumable = ResumablePartition(tables, loc_stage.TABLE, partition, "row_key", loc_stage.SCHEMA)
    source = loc_stage.maps_wanted(name, DETECTOR_PLUGINS[specs[name].plugin], params)
    if source is None:  # neither a map-output plugin nor named in localization.sliding_window: not loaded
        resumable.finalize(keep=set())
        project.warehouse().refresh([loc_stage.TABLE])
        return versioned_result(context, project, loc_stage.TABLE, {
            "dagster/row_count": 0, "map_source": "none (not in localization.sliding_window)"})
    scoring = gpu.scoring(ModelSource(device=project.device, dtype=dparams.dtype), default_batch_size=params.batch_size)
    detector = build_detector(specs[name], device=scoring.device, dtype=scoring.dtype)
    conditions = loc_stage.conditions_of(params, cfg.params("conditions", ConditionParams).for_detector(name))
    targets = loc_stage.dataset_targets(detector, dataset, tables, released_frame(tables, cfg.source(dataset)),
                                        dparams, params)
    frame, rejections, counts = loc_stage.run_partition(
        detector, targets, dataset, project.images(), resumable, params, conditions,
        cfg.params("conditions", ConditionParams).seed_or(cfg.seed), config.force, log=context.log.info)
    metadata = {
        "dagster/row_count": frame.height, "dagster/column_schema": column_schema(loc_stage.TABLE, loc_stage.SCHEMA),
        "mapped_now": counts["mapped"], "reused": counts["reused"], "map_source": source,
        "by_kind": counts_table(frame, "image_kind", "condition"),
        "preview": MetadataValue.md(markdown_table(frame.select("image_kind", "image_id", "map_source", "map_max"))),
        "device": str(detector.device), "dtype": detector.dtype_name,
    }
    metadata |= write_rejections(context, project, f"{loc_stage.TABLE}.{name}", dataset, rejections)
    project.warehouse().refresh([loc_stage.TABLE, quarantine.TABLE])
    if detector.random_weights:
        metadata["warning"] = f"{name} has random weights: its maps are noise."
    return versioned_result(context, project, loc_stage.TABLE, metadata)


@asset(
    partitions_def=detector_partitions,
    deps=[AssetDep(localization_predictions, partition_mapping=BY_DETECTOR), evaluation, bins,
          AssetDep(change_metrics, partition_mapping=ALL), AssetDep(released_edits, partition_mapping=ALL)],
    group_name="localization",
    kinds={"parquet", "html"},
    code_version="localization_evaluation-v1",
    automation_condition=AFTER_UPSTREAM,
)
def localization_evaluation(context: AssetExecutionContext, project: ProjectResource) -> MaterializeResult:
    """One row per detector: pixel-level F1, IoU, MCC (at the fixed threshold and the best per image),
    pixel AUROC (per image and pooled) against each ground truth (inpainting: the request's mask and the
    post-edit mask; other methods: the post-edit mask), the false-alarm area on real images and the
    image-level AUROC of the map's maximum, with cluster-bootstrap intervals; breakdowns and a gallery
    in a section appended to the detector's report."""
    from semitruths_dagster.evaluation.robustness import append_to_report
    from semitruths_dagster.localization import evaluation_stage

    name = context.partition_key
    cfg, dparams = project.config(), detector_params(project)
    tables = project.tables()
    out_dir = cfg.storage_root / "reports" / name / evaluation_stage.DIR
    row, result, html = evaluation_stage.evaluate_detector(
        tables, project.images(), name, localization_params(project), dparams.n_boot, cfg.seed, out_dir)
    report = cfg.storage_root / "reports" / name / "report.html"
    if report.is_file() and result["n_maps"]:
        append_to_report(report, html)
    shared = publish_dir(out_dir.parent, tables.root, f"reports/{name}")
    if shared != out_dir.parent:
        row |= {"result_path": str(shared / evaluation_stage.DIR / "result.json"),
                "section_path": str(shared / evaluation_stage.DIR / "section.html")}
    tables.write(evaluation_stage.TABLE, {"detector": name}, [row], evaluation_stage.SCHEMA)
    project.warehouse().refresh([evaluation_stage.TABLE])
    metadata = {"dagster/row_count": 1, "n_maps": result["n_maps"], "report": MetadataValue.url(report_url(project, f"{name}/report.html")),
                "report_file": MetadataValue.path(str(report)),
                **{k: row[k] for k in ("post_edit_mask_f1", "edit_mask_f1", "false_alarm_area",
                                       "image_auroc_map_max") if row[k] is not None}}
    if row["random_weights"]:
        metadata["warning"] = f"{name} has random weights: every localization figure is noise."
    return versioned_result(context, project, evaluation_stage.TABLE, metadata, partition={"detector": name},
                            files=[Path(out_dir) / "result.json"])


localization_automation = AutomationConditionSensorDefinition(
    "localization_automation",
    target=AssetSelection.assets(localization_evaluation),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)

defs = Definitions(assets=[localization_predictions, localization_evaluation], sensors=[localization_automation])
