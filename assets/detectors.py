"""Detectors: their predictions (dataset x detector), evaluation (per detector) and the leaderboard.

Detectors are dynamic partitions: `detector_registry` (a sensor) adds one when a spec appears in the
registry folder and requests that detector's predictions, and nothing else; declarative automation
then evaluates it and refreshes the leaderboard, when an input's content (its data version) changed.
A schedule re-evaluates every detector on a cron.
"""

from dataclasses import replace
from pathlib import Path

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetDep,
    AssetExecutionContext,
    AssetKey,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultScheduleStatus,
    DefaultSensorStatus,
    Definitions,
    Failure,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    RunRequest,
    ScheduleEvaluationContext,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    asset,
    schedule,
    sensor,
)

from resources import PROJECT, GpuResource, ProjectResource
from semitruths_dagster.conditions import ConditionParams
from semitruths_dagster.detectors import stage as predict_stage
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.sections import ReportParams
from semitruths_dagster.storage.location import publish_dir, publish_file

from .common import column_schema, counts_table, inline_png, partition_of, publish_partition, versioned_result
from .controls import controls
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
# A parent counts when its data version changed since the last tick: every asset reports the content
# hash of the partition it wrote (`versioned_result`), so a rerun that wrote the same rows (an empty
# `released_edits` re-materialized with its sources) starts nothing here, unlike any_deps_updated(),
# which counts every materialization. As in any_deps_updated(), an update made by a run that also ran
# this asset does not count, and a parent requested on this same tick does.
ANY_DEPS_CHANGED = AutomationCondition.any_deps_match(
    (AutomationCondition.data_version_changed() & ~AutomationCondition.executed_with_root_target())
    .with_label("data_version_changed_without_root")
    | AutomationCondition.will_be_requested()
).with_label("any_deps_changed")
# Re-evaluate when any of the detector's inputs changed and none is still running. Datasets with no
# predictions yet do not block it (unlike eager()), so one backfilled dataset is enough to start.
AFTER_UPSTREAM = (
    ANY_DEPS_CHANGED.since_last_handled()
    & ~AutomationCondition.any_deps_in_progress()
    & ~AutomationCondition.in_progress()
).with_label("after_upstream_changes")


ROBUSTNESS_PREVIEW = ("condition", "roc_auc", "roc_auc_drop", "tpr_at_5fpr", "eer", "fake_recall_calibrated",
                      "fake_recall_calibrated_drop", "ece")


def clean_rows(predictions: pl.DataFrame) -> pl.DataFrame:
    """The clean condition's real images and edits, without the condition and control columns."""
    if "condition" not in predictions.columns:
        return predictions
    return predictions.filter((pl.col("condition") == "clean") & pl.col("control").is_null()).drop(
        "condition", "control")


def with_change_metrics(predictions: pl.DataFrame, change: pl.DataFrame) -> pl.DataFrame | None:
    """Clean predictions with each edit's continuous change metrics (for the response curves)."""
    from semitruths_dagster.evaluation import robustness

    columns = [c for c in robustness.RESPONSE_METRICS if c in change.columns and c not in predictions.columns]
    if change.is_empty() or not columns:
        return predictions
    return predictions.join(change.select("generation_id", *columns).unique("generation_id"), on="generation_id",
                            how="left")


def detector_params(project: ProjectResource) -> predict_stage.DetectorParams:
    return project.config().params("detectors", predict_stage.DetectorParams)


def registry_dir(project: ProjectResource) -> Path:
    return detector_params(project).registry_dir(project.config().path.parent)


def report_url(project: ProjectResource, relative: str) -> str:
    """The URL of a file under `<storage>/reports` on the report server (`semitruths reports`): a link the
    UI opens in one click, from any machine that reaches `reports.base_url`."""
    return project.config().params("reports", ReportParams).url(relative)


def registered_spec(project: ProjectResource, name: str):
    """The detector's spec, or a one-line failure naming the registry: a partition added by hand ("Add a
    partition" in the UI) is no detector until a spec of that name is in the registry folder."""
    from semitruths_dagster.detectors.spec import spec_names  # YAML only: no torch

    registry = registry_dir(project)
    named = spec_names(registry).get(name)
    if named is None:
        raise Failure(description=f"detector '{name}' has no spec in the registry {registry}: add one with "
                                  "`semitruths detector add <spec.yaml>`", allow_retries=False)
    from semitruths_dagster.detectors import scan_registry  # validates against the plugins: torch

    specs, refused = scan_registry(registry)
    if name in specs:
        return specs[name]
    why = refused.get(str(named), "its spec is refused")
    raise Failure(description=f"detector '{name}' has no valid spec in the registry {registry}: {why}",
                  allow_retries=False)


@asset(
    partitions_def=prediction_partitions,
    deps=[AssetDep(source_images, partition_mapping=BY_DATASET), AssetDep(masks, partition_mapping=BY_DATASET),
          AssetDep(released_edits, partition_mapping=BY_DATASET), AssetDep(generations, partition_mapping=ALL),
          AssetDep(controls, partition_mapping=ALL), saliency_labels, AssetDep(change_metrics, partition_mapping=ALL)],
    group_name="detectors",
    kinds={"pytorch", "parquet"},
    code_version="detector_predictions-v1",
    **gpu_step(),
)
def detector_predictions(context: AssetExecutionContext, project: ProjectResource,
                         gpu: GpuResource) -> MaterializeResult:
    """One row per (detector, image) of the dataset, real and edited images alike: P(fake), the
    threshold and the call, the preprocessing signature with the mask-aware crop box, and the cache
    key (detector, version, image hash, preprocessing, dtype unless float32). Scores already in the
    partition under the same key are reused, not recomputed. Scored in batches on the project's device in
    `detectors.dtype` (default: each plugin's authors' precision) through the input transform of
    `detectors.protocol` (authors | paper); each row records protocol, device, precision, batch size and
    the run's images/s.
    `random_weights` marks detectors with random weights."""
    partition = partition_of(context)
    dataset, name = partition["dataset"], partition["detector"]
    spec = registered_spec(project, name)  # before torch loads: a partition without a spec fails at once
    from semitruths_dagster.detectors import build_detector  # torch: in the step
    from semitruths_dagster.sources.released_stage import released_frame

    config, params = project.config(), detector_params(project)
    # where the detector comes from, as every loader takes it: the project's device, detectors.dtype
    source = ModelSource(device=project.device, dtype=params.dtype)
    scoring = gpu.scoring(source, default_batch_size=params.batch_size)
    detector = build_detector(spec, device=scoring.device, dtype=scoring.dtype, protocol=params.protocol)
    tables = project.tables()
    conditions = config.params("conditions", ConditionParams)
    rows, rejections = predict_stage.predict_dataset(
        detector, dataset, tables, project.images(), released_frame(tables, config.source(dataset)),
        replace(params, batch_size=scoring.batch_size), config.seed, conditions.for_detector(name),
        conditions.seed_or(config.seed))
    frame, metadata = publish_partition(
        context, project, table=predict_stage.TABLE, rows=rows, schema=predict_stage.SCHEMA,
        preview_columns=["image_kind", "condition", "control", "image_id", "score", "predicted_fake"],
        stage=f"{predict_stage.TABLE}.{name}", rejections=rejections,
    )
    metadata |= {"scored_now": int((~frame["reused_from_cache"]).sum()) if frame.height else 0,
                 "by_kind": counts_table(frame, "image_kind", "predicted_fake"),
                 "by_condition": counts_table(frame, "condition", "control"),
                 "device": str(detector.device), "dtype": detector.dtype_name, "batch_size": scoring.batch_size,
                 "protocol": detector.protocol}
    if frame.height and frame["images_per_s"][0] is not None:
        metadata["images_per_s"] = float(frame["images_per_s"][0])
    if detector.random_weights:
        metadata["warning"] = f"{name} has random weights: its scores are noise."
    return versioned_result(context, project, predict_stage.TABLE, metadata)


@asset(
    partitions_def=detector_partitions,
    deps=[AssetDep(detector_predictions, partition_mapping=BY_DETECTOR), bins,
          AssetDep(released_edits, partition_mapping=ALL)],
    group_name="detectors",
    kinds={"parquet", "html"},
    code_version="evaluation-v1",
    automation_condition=AFTER_UPSTREAM,
)
def evaluation(context: AssetExecutionContext, project: ProjectResource) -> MaterializeResult:
    """One row per detector: precision, recall, F1, accuracy, balanced accuracy, ROC-AUC and AP at the
    default threshold and at a calibrated one (the target false-positive rate on real images), with
    bootstrap intervals; fake recall broken down by dataset, method, generator, magnitude, every metric
    bin, localization, scene bins and directional edit, in the result JSON, PNG plots and an HTML
    report under `<storage>/reports/<detector>/`."""
    from semitruths_dagster.evaluation import robustness
    from semitruths_dagster.evaluation import stage as eval_stage
    from semitruths_dagster.sources.released_stage import TABLE as RELEASED_TABLE

    name = context.partition_key
    params = detector_params(project)
    spec = registered_spec(project, name)
    tables = project.tables()
    every = tables.read_all(predict_stage.TABLE).filter(pl.col("detector") == name)
    # The headline evaluation is the clean images and edits; conditions and controls are judged apart.
    predictions = clean_rows(every)
    frame = eval_stage.attribute_frame(predictions, tables.read_all("generations"), tables.read_all("bins"),
                                       tables.read_all("masks"), tables.read_all(RELEASED_TABLE))
    out_dir = project.config().storage_root / "reports" / name
    row, result = eval_stage.evaluate(
        frame, name, spec.version, spec.random_weights, predictions["threshold"][0], params.target_fpr,
        params.n_boot, project.config().seed, out_dir)
    summary = robustness.evaluate_robustness(
        every, with_change_metrics(frame, tables.read_all("change_metrics")), predictions["threshold"][0],
        params.target_fpr, params.n_boot, project.config().seed, out_dir / robustness.ROBUSTNESS_DIR,
        spec.random_weights)
    robustness.append_to_report(Path(row["report_path"]), summary["html"], summary["verdicts"])
    # On an object store the report folder goes to <storage>/reports/<detector>/, where every host sees it.
    shared = publish_dir(out_dir, tables.root, f"reports/{name}")
    if shared != out_dir:
        row |= {"result_path": str(shared / "result.json"), "report_path": str(shared / "report.html")}
    project.tables().write(eval_stage.TABLE, {"detector": name}, [row], eval_stage.SCHEMA)
    project.warehouse().refresh([eval_stage.TABLE])
    plots = sorted(out_dir.glob("*.png"))
    metadata = {
        "dagster/row_count": 1,
        "dagster/column_schema": column_schema(eval_stage.TABLE, eval_stage.SCHEMA),
        "report": MetadataValue.url(report_url(project, f"{name}/report.html")),
        "report_file": MetadataValue.path(row["report_path"]),
        "roc_auc": row["roc_auc"],
        "default_fake_recall": row["default_fake_recall"],
        "calibrated_threshold": row["calibrated_threshold"],
        "calibrated_fake_recall": row["calibrated_fake_recall"],
        "plots": MetadataValue.md("\n\n".join(inline_png(p.read_bytes(), p.stem) for p in plots[:6])),
        "robustness": MetadataValue.md(robustness.table_markdown(summary["robustness"], ROBUSTNESS_PREVIEW)),
        "controls": MetadataValue.md(robustness.table_markdown(summary["controls"])),
        "decision_by_bin": MetadataValue.md(robustness.table_markdown(summary["by_bin"]) if summary["by_bin"] else "-"),
        "worst_condition": str(summary["worst_condition"]),
        "robustness_figures": MetadataValue.md("\n\n".join(
            inline_png(Path(p).read_bytes(), k) for k, p in summary["figures"].items())),
    }
    if spec.random_weights:
        metadata["warning"] = f"{name} has random weights: every figure of this evaluation is noise."
    # The leaderboard reads the result and robustness summaries beside the row: they are part of the version.
    return versioned_result(context, project, eval_stage.TABLE, metadata, partition={"detector": name},
                            files=[out_dir / "result.json", out_dir / robustness.ROBUSTNESS_DIR / "robustness.json"])


@asset(
    # localization_evaluation by key: its module imports this one. Its result fills the localization columns.
    deps=[AssetDep(evaluation, partition_mapping=ALL),
          AssetDep(AssetKey("localization_evaluation"), partition_mapping=ALL)],
    group_name="detectors",
    kinds={"parquet", "html"},
    code_version="leaderboard-v1",
    automation_condition=AFTER_UPSTREAM,
)
def leaderboard(context: AssetExecutionContext, project: ProjectResource) -> MaterializeResult:
    """One row per evaluated detector, best ROC-AUC first: headline metrics at the default and the
    calibrated threshold with intervals, robustness and control columns, and whether the detector had
    random weights; the page `reports/leaderboard.html` (sortable table, forest plot, recall heatmap,
    links to the reports)."""
    from semitruths_dagster.evaluation import stage as eval_stage
    from semitruths_dagster.evaluation.leaderboard import (
        leaderboard_markdown,
        provider_values,
        write_leaderboard_html,
    )

    evaluations = project.tables().read_all(eval_stage.TABLE)
    rows, results = eval_stage.leaderboard_rows(evaluations["result_path"].to_list() if evaluations.height else [])
    paths = dict(zip(evaluations["detector"], evaluations["result_path"], strict=True)) if evaluations.height else {}
    rows = [r | provider_values(paths[r["detector"]]) for r in rows]
    speeds = predict_stage.throughput(project.tables().read_all(predict_stage.TABLE))
    rows = [r | {"images_per_s": speeds.get(r["detector"])} for r in rows]
    table = {k: [r[k] for r in rows] for k in rows[0]} if rows else {}
    schema = eval_stage.leaderboard_schema(rows)
    frame, metadata = publish_partition(context, project, table=eval_stage.LEADERBOARD_TABLE, rows=rows,
                                        schema=schema, preview_columns=list(schema)[:6])
    if table:
        reports = project.config().storage_root / "reports"  # each report beside the page: <detector>/report.html
        local = write_leaderboard_html(table, reports / "leaderboard.html", results,
                                       {name: reports / name / "report.html" for name in table["detector"]})
        html = publish_file(Path(local), project.tables().root, "reports/leaderboard.html")
        metadata |= {"report": MetadataValue.url(report_url(project, "leaderboard.html")),
                     "report_file": MetadataValue.path(str(html)),
                     "leaderboard": MetadataValue.md(leaderboard_markdown(table))}
        if any(table.get("random_weights") or []):
            metadata["warning"] = "Detectors with random weights are on this leaderboard: their figures are noise."
    return versioned_result(context, project, eval_stage.LEADERBOARD_TABLE, metadata)


@sensor(
    name="detector_registry",
    asset_selection=AssetSelection.assets(detector_predictions),
    minimum_interval_seconds=15,
    default_status=DefaultSensorStatus.RUNNING,
    description="Adds a detector partition when its spec appears in the registry and requests its predictions.",
)
def detector_registry(context: SensorEvaluationContext, project: ProjectResource):
    from semitruths_dagster.detectors.registry_review import read_cursor, review_registry  # verifies: torch

    config, registry = project.config(), registry_dir(project)
    existing = set(context.instance.get_dynamic_partitions(detector_partitions.name))
    # New or changed specs are verified (weights load, digests, golden outputs) before any run; a refused
    # spec is skipped with its reason and every other detector goes on. First tick: detectors that already
    # have a partition (registered by `semitruths demo`) count as handled.
    seen, refused = read_cursor(context.cursor, registry, existing)
    review = review_registry(registry, seen, refused)
    for path, reason in review.refused.items():
        if path not in refused:  # newly refused: once in the tick log; the skip reason repeats it
            context.log.warning(f"detector spec refused: {reason}")
    if not review.accepted and not review.removed:
        context.update_cursor(review.cursor())
        return SkipReason(review.skip_reason(registry))
    # Only the new or changed detectors' partitions run; every other detector is left alone.
    requests = [RunRequest(run_key=f"{name}:{review.seen[name][:12]}:{dataset}",  # the spec's digest
                           partition_key=f"{dataset}|{name}")  # dimensions in name order
                for name in review.accepted for dataset in config.dataset_names]
    return SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[
            detector_partitions.build_add_request([n for n in review.accepted if n not in existing]),
            detector_partitions.build_delete_request([n for n in review.removed if n in existing]),
        ],
        cursor=review.cursor(),
    )


evaluation_automation = AutomationConditionSensorDefinition(
    "evaluation_automation",
    target=AssetSelection.assets(evaluation, leaderboard),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
)


@schedule(
    cron_schedule=detector_params(PROJECT).schedule,
    target=AssetSelection.assets(evaluation),
    default_status=DefaultScheduleStatus.RUNNING,
    name="detector_reevaluation",
    description="Re-evaluates every registered detector (then the leaderboard follows by automation).",
)
def detector_reevaluation(context: ScheduleEvaluationContext):
    for name in context.instance.get_dynamic_partitions(detector_partitions.name):
        yield RunRequest(run_key=f"{name}:{context.scheduled_execution_time.isoformat()}", partition_key=name)


defs = Definitions(
    assets=[detector_predictions, evaluation, leaderboard],
    sensors=[detector_registry, evaluation_automation],
    schedules=[detector_reevaluation],
)
