"""Saliency, change metrics and bins of the edited images (paper 3.1, 3.2, C.2, C.3)."""

import io
import json

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
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from resources import ModelsResource, ProjectResource
from semitruths_dagster.hub import resolve_device
from semitruths_dagster.metrics import bins_stage

from .common import counts_table, inline_png, partition_of, publish_partition, versioned_result
from .generations import generations
from .masks import masks
from .partitions import generation_partitions
from .prompts import perturbed_prompts
from .sources import source_images

BY_DATASET = MultiToSingleDimensionPartitionMapping(partition_dimension_name="dataset")
ALL = AllPartitionMapping()


def _inputs(project: ProjectResource, context: AssetExecutionContext) -> tuple[list[dict], dict[str, str]]:
    """This partition's generations and the store paths of their original images."""
    partition = partition_of(context)
    tables = project.tables()
    rows = tables.read("generations", partition).to_dicts()
    images = tables.read("source_images", {"dataset": partition["dataset"]})
    return rows, dict(zip(images["image_id"], images["image_path"], strict=True))


def histograms(frame: pl.DataFrame, columns: list[str], cutoffs: dict[str, list[float]] | None = None) -> str:
    """One small histogram per metric as an inline PNG (with the bin cutoffs drawn), for the UI."""
    from matplotlib.figure import Figure  # a second of import: in the steps that draw, not at load

    columns = [c for c in columns if c in frame.columns and frame[c].drop_nulls().len()]
    if not columns:
        return "_no values_"
    fig = Figure(figsize=(2.6 * len(columns), 2.2))  # no pyplot: no global state, no GUI backend
    axes = fig.subplots(1, len(columns), squeeze=False)
    for ax, column in zip(axes[0], columns, strict=True):
        ax.hist(frame[column].drop_nulls().cast(pl.Float64).to_numpy(), bins=20, color="#4f6d9a")
        for cut in (cutoffs or {}).get(column, []):
            ax.axvline(cut, color="#d1495b", linestyle="--", linewidth=1)
        ax.set_title(column, fontsize=8)
        ax.tick_params(labelsize=6)
    # Fixed margins: tight_layout measured every tick label and took most of this function's ~1 s.
    fig.subplots_adjust(left=0.35 / len(columns), right=0.98, bottom=0.12, top=0.86, wspace=0.3)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90)
    return inline_png(buf.getvalue(), "histograms")


@asset(
    partitions_def=generation_partitions,
    deps=[generations, AssetDep(source_images, partition_mapping=BY_DATASET)],
    group_name="metrics",
    kinds={"pytorch", "parquet"},
    code_version="saliency_scores-v1",
)
def saliency_scores(context: AssetExecutionContext, project: ProjectResource,
                    models: ModelsResource) -> MaterializeResult:
    """One row per edited image: CLIP image similarity original vs edited, CLIP similarity of the
    edited image and the perturbed text, directional similarity (the paper's formula), BRISQUE of the
    edited image (the brisque package's real SVM), and whether the image is black; beside them the
    three CLIP scores as the original code computed them (`*_original`: the `saliency` model role,
    openai/clip-vit-base-patch32, its directional formula), which the `released` windows apply to."""
    from semitruths_dagster.metrics import saliency_stage  # CLIP (torch): in the step

    config = project.config()
    params = config.params("saliency", saliency_stage.SaliencyParams)
    rows, originals = _inputs(project, context)
    registry = models.registry(config)
    clip, original = registry.load("clip"), registry.load("saliency")
    scored = saliency_stage.score_saliency(rows, originals, project.images(), clip, params, original)
    frame, metadata = publish_partition(
        context, project, table=saliency_stage.SCORES_TABLE, rows=scored, schema=saliency_stage.SCORES_SCHEMA,
        preview_columns=["method", "clip_image_similarity", "directional_similarity", "brisque", "black"],
    )
    metadata["histograms"] = MetadataValue.md(histograms(
        frame, ["clip_image_similarity", "clip_edit_text_similarity", "directional_similarity",
                "directional_sim_original", "brisque"]))
    if clip.random_weights or original.random_weights:
        metadata["warning"] = "CLIP has random weights (tiny profile): the CLIP similarities mean nothing."
    return versioned_result(context, project, saliency_stage.SCORES_TABLE, metadata)


@asset(
    deps=[AssetDep(saliency_scores, partition_mapping=ALL)],
    group_name="metrics",
    kinds={"parquet"},
    code_version="saliency_labels-v1",
    check_specs=[AssetCheckSpec("every_edit_labelled", asset="saliency_labels",
                                description="Every scored edit has a pass / fail label.")],
)
def saliency_labels(context: AssetExecutionContext, project: ProjectResource):
    """One row per edited image of every partition: salient (passed) or not, the first failing rule
    and all failing rules (black image, BRISQUE >= 70, CLIP image similarity outside its window,
    directional similarity below its percentile). Percentile windows are computed over every
    partition at once (`saliency.thresholds: percentile`), or the released fixed thresholds
    (`released`); the thresholds used are stored on every row."""
    from semitruths_dagster.metrics import saliency_stage

    params = project.config().params("saliency", saliency_stage.SaliencyParams)
    scores = project.tables().read_all(saliency_stage.SCORES_TABLE)
    labels = saliency_stage.label_saliency(scores, params)
    frame, metadata = publish_partition(
        context, project, table=saliency_stage.LABELS_TABLE, rows=labels, schema=saliency_stage.LABELS_SCHEMA,
        preview_columns=["dataset", "generator", "method", "passed", "first_failure"],
    )
    metadata |= {
        "passed": int(frame["passed"].sum() or 0),
        "by_first_failure": counts_table(frame, "first_failure"),
        "thresholds": MetadataValue.json(json.loads(frame["thresholds"][0]) if frame.height else {}),
    }
    yield versioned_result(context, project, saliency_stage.LABELS_TABLE, metadata)
    yield AssetCheckResult(check_name="every_edit_labelled", passed=frame.height == scores.height,
                           metadata={"scored": scores.height, "labelled": frame.height})


CHANGE_CHECKS = [
    AssetCheckSpec("values_in_range", asset="change_metrics",
                   description="MSE, post-edit ratio, component share in [0, 1]; SSIM in [-1, 1]; LPIPS >= 0."),
    AssetCheckSpec("no_silent_nan", asset="change_metrics",
                   description="Pixel metrics are never null; a null DreamSim carries its reason."),
    AssetCheckSpec("every_edit_measured", asset="change_metrics",
                   description="Every edited image of the partition has a metrics row."),
]


@asset(
    partitions_def=generation_partitions,
    deps=[generations, AssetDep(source_images, partition_mapping=BY_DATASET),
          AssetDep(masks, partition_mapping=BY_DATASET), AssetDep(perturbed_prompts, partition_mapping=BY_DATASET)],
    group_name="metrics",
    kinds={"pytorch", "parquet"},
    code_version="change_metrics-v1",
    check_specs=CHANGE_CHECKS,
)
def change_metrics(context: AssetExecutionContext, project: ProjectResource):
    """One row per edited image: area ratio (inpainting), MSE, SSIM, post-edit surface-area change
    (Algorithm 2, both original bugs fixed), component count, largest component share, largest
    centroid distance, LPIPS (AlexNet; `lpips_random_backbone` when its weights are not in the torch
    cache), DreamSim (null with the reason when not installed), and the sentence (MiniLM) and CLIP text
    similarity of the edit request."""
    from semitruths_dagster.metrics import change_stage  # LPIPS, CLIP (torch): in the step

    config = project.config()
    params = config.params("change_metrics", change_stage.ChangeParams)
    rows, originals = _inputs(project, context)
    dataset = {"dataset": partition_of(context)["dataset"]}
    mask_rows = project.tables().read("masks", dataset)
    prompts = project.tables().read("perturbed_prompts", dataset)
    semantic = {r["request_id"]: r for r in
                prompts.select("request_id", "sentence_similarity", "clip_text_similarity").to_dicts()}
    measured = change_stage.compute_change_metrics(
        rows, originals, dict(zip(mask_rows["mask_id"], mask_rows["area_ratio"], strict=True)), semantic,
        project.images(), params, device=str(resolve_device(project.device)))  # LPIPS beside the generators
    frame, metadata = publish_partition(
        context, project, table=change_stage.TABLE, rows=measured, schema=change_stage.SCHEMA,
        preview_columns=["method", "area_ratio", "mse", "ssim", "post_edit_ratio", "n_components", "lpips"],
    )
    metadata["histograms"] = MetadataValue.md(histograms(
        frame, ["area_ratio", "mse", "ssim", "post_edit_ratio", "lpips", "sentence_similarity"]))
    if frame.height and frame["lpips_random_backbone"].any():
        metadata["warning"] = "LPIPS ran on a random AlexNet backbone (weights not in the torch cache)."
    yield versioned_result(context, project, change_stage.TABLE, metadata)

    unit = ["mse", "post_edit_ratio", "largest_component_ratio", "area_ratio"]
    bad = frame.filter(pl.any_horizontal([~pl.col(c).is_between(0, 1) for c in unit])
                       | ~pl.col("ssim").is_between(-1, 1) | (pl.col("lpips") < 0))
    yield AssetCheckResult(check_name="values_in_range", passed=bad.is_empty(), metadata={"violations": bad.height})
    pixel = list(change_stage.PIXEL_COLUMNS)
    nulls = frame.filter(pl.any_horizontal([pl.col(c).is_null() | pl.col(c).is_nan() for c in pixel])
                         | (pl.col("dreamsim").is_null() & pl.col("dreamsim_reason").is_null()))
    yield AssetCheckResult(check_name="no_silent_nan", passed=nulls.is_empty(), metadata={"rows": nulls.height})
    yield AssetCheckResult(check_name="every_edit_measured", passed=frame.height == len(rows),
                           metadata={"edits": len(rows), "measured": frame.height})


@asset(
    deps=[AssetDep(change_metrics, partition_mapping=ALL), AssetDep(masks, partition_mapping=ALL)],
    group_name="metrics",
    kinds={"parquet"},
    code_version="bins-v1",
    check_specs=[AssetCheckSpec("monotone_cutoffs", asset="bins", description="Every metric's cutoffs rise."),
                 AssetCheckSpec("every_edit_binned", asset="bins",
                                description="Every measured edit has a bins row.")],
)
def bins(context: AssetExecutionContext, project: ProjectResource):
    """One row per edited image of every partition: small / medium / large (and 5-level) bin of each
    change metric with cutoffs over the whole dataset (direction-aware: a high SSIM or similarity is
    a small change), localized vs diffused, and the scene diversity / complexity bins of its image.
    The cutoffs land in the `bin_cutoffs` table with the datasets they came from."""
    from semitruths_dagster.metrics import change_stage

    params = project.config().params("bins", bins_stage.BinParams)
    tables = project.tables()
    metrics = tables.read_all(change_stage.TABLE)
    rows, cutoffs = bins_stage.build_bins(metrics, tables.read_all("masks"), params)
    tables.write(bins_stage.CUTOFFS_TABLE, {}, cutoffs, bins_stage.CUTOFFS_SCHEMA)
    frame, metadata = publish_partition(
        context, project, table=bins_stage.TABLE, rows=rows, schema=bins_stage.schema(params),
        preview_columns=["dataset", "method", "mse_bin", "ssim_bin", "post_edit_ratio_bin", "localization"],
    )
    project.warehouse().refresh([bins_stage.CUTOFFS_TABLE])
    cut_frame = pl.DataFrame(cutoffs, schema=bins_stage.CUTOFFS_SCHEMA, orient="row") if cutoffs else pl.DataFrame()
    three = {r["metric"]: r["cutoffs"] for r in cutoffs if r["levels"] == 3}
    metadata |= {
        "cutoffs": MetadataValue.json(three),
        "by_localization": counts_table(frame, "localization"),
        "histograms": MetadataValue.md(histograms(metrics, list(params.metrics), three)),
    }
    yield versioned_result(context, project, bins_stage.TABLE, metadata)
    rising = all(all(a <= b for a, b in zip(c, c[1:], strict=False)) for c in cut_frame["cutoffs"].to_list()) \
        if cutoffs else True
    yield AssetCheckResult(check_name="monotone_cutoffs", passed=rising)
    yield AssetCheckResult(check_name="every_edit_binned", passed=frame.height == metrics.height,
                           metadata={"measured": metrics.height, "binned": frame.height})


defs = Definitions(assets=[saliency_scores, saliency_labels, change_metrics, bins])
