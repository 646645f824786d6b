"""`perturbed_prompts` (per dataset) and `prompt_filters` (over every dataset): the edit requests."""

import polars as pl
from dagster import (
    AllPartitionMapping,
    AssetCheckResult,
    AssetCheckSpec,
    AssetDep,
    AssetExecutionContext,
    Definitions,
    MaterializeResult,
    MetadataValue,
    asset,
)

from resources import ModelsResource, ProjectResource
from semitruths_dagster.prompts import validate_caption, validate_label

from .common import counts_table, publish_partition, versioned_result
from .masks import masks
from .partitions import dataset_partitions
from .sources import source_images

PROMPT_CHECKS = [
    AssetCheckSpec("unique_request_ids", asset="perturbed_prompts", description="No request_id appears twice."),
    AssetCheckSpec("valid_rows_pass_validation", asset="perturbed_prompts",
                   description="Every row marked valid passes the label / caption rules again."),
    AssetCheckSpec("every_magnitude_valid", asset="perturbed_prompts",
                   description="Each configured magnitude has at least one valid edit per method."),
]


@asset(
    partitions_def=dataset_partitions,
    deps=[source_images, masks],
    group_name="prompts",
    kinds={"pytorch", "parquet"},
    code_version="perturbed_prompts-v1",
    check_specs=PROMPT_CHECKS,
)
def perturbed_prompts(context: AssetExecutionContext, project: ProjectResource, models: ModelsResource):
    """One row per edit request: for inpainting, an eligible mask's label and its perturbed label at a
    target magnitude, and whether the model was asked to alter or to replace the object; for
    prompt-based editing (p2p), an image's caption and its rewrite. Records the backend, model, prompt
    template version, seed, attempts, validity with every rejection reason, and the sentence (MiniLM)
    and CLIP text similarities. `random_weights` marks text from the tiny random-weight models."""
    from semitruths_dagster.prompts import stage  # the models (torch) load in the step

    config = project.config()
    params = config.params("prompts", stage.PromptParams)
    dataset = {"dataset": context.partition_key}
    tables = project.tables()
    rows = stage.build_prompt_rows(
        tables.read("source_images", dataset).to_dicts(), tables.read("masks", dataset).to_dicts(),
        project.images(), models.registry(config), params, config.seed,
    )
    frame, metadata = publish_partition(
        context, project, table=stage.TABLE, rows=rows, schema=stage.SCHEMA,
        preview_columns=["method", "magnitude", "original", "perturbed", "edit_mode", "valid"],
    )
    reasons = frame.select(pl.col("rejection_reasons").explode().str.replace(r"^attempt \d+: ", "")).drop_nulls()
    valid = frame.filter("valid")
    metadata |= {
        "valid": valid.height,
        "by_magnitude": counts_table(frame, "method", "magnitude", "valid"),
        "by_backend": counts_table(frame, "backend", "model_ref", "random_weights"),
        "by_rejection_reason": counts_table(reasons, "rejection_reasons"),
    }
    if frame["random_weights"].any():
        metadata["warning"] = "Some rows come from random-weight (tiny) models: their text means nothing."
    yield versioned_result(context, project, stage.TABLE, metadata)

    yield AssetCheckResult(check_name="unique_request_ids", passed=frame["request_id"].is_unique().all())
    def rule_breaks(row: dict) -> list[str]:
        if row["method"] == "inpainting":
            return validate_label(row["perturbed"], row["original"], params.max_label_words)
        return validate_caption(row["perturbed"], row["original"], params.max_caption_words)

    broken = [r["request_id"] for r in valid.iter_rows(named=True) if rule_breaks(r)]
    yield AssetCheckResult(check_name="valid_rows_pass_validation", passed=not broken,
                           metadata={"violations": len(broken)})
    present = set(valid.select("method", "magnitude").unique().iter_rows())
    expected = {(m, mag) for m in frame["method"].unique() for mag in params.magnitudes}
    missing = sorted(expected - present)
    yield AssetCheckResult(check_name="every_magnitude_valid", passed=not missing,
                           metadata={"missing": MetadataValue.json([list(m) for m in missing])})


@asset(
    deps=[AssetDep(perturbed_prompts, partition_mapping=AllPartitionMapping())],
    group_name="prompts",
    kinds={"parquet"},
    code_version="prompt_filters-v1",
)
def prompt_filters(context: AssetExecutionContext, project: ProjectResource) -> MaterializeResult:
    """One row per edit request of every dataset: kept or not, and the filters it failed. Percentile
    cutoffs (CLIPScore lowest 5% of captions out; CLIP text similarity of original vs perturbed kept
    within the 5th-95th percentile) are computed over all partitions together, or fixed thresholds
    come from the configuration; the cutoffs are stored on every row."""
    from semitruths_dagster.prompts import stage

    config = project.config()
    params = config.params("prompts", stage.PromptParams)
    prompts = project.tables().read_all(stage.TABLE)
    rows, cutoffs = stage.filter_prompt_rows(prompts.to_dicts(), params)
    frame, metadata = publish_partition(
        context, project, table=stage.FILTER_TABLE, rows=rows, schema=stage.FILTER_SCHEMA,
        preview_columns=["dataset", "method", "magnitude", "kept", "filter_reasons"],
    )
    metadata |= {
        "kept": int(frame["kept"].sum() or 0),
        "cutoffs": MetadataValue.json(vars(cutoffs) if cutoffs else {}),
        "kept_by_method": counts_table(frame, "method", "magnitude", "kept"),
    }
    return versioned_result(context, project, stage.FILTER_TABLE, metadata)


defs = Definitions(assets=[perturbed_prompts, prompt_filters])
