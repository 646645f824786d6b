"""`generations`: the edited images of one dataset by one generator (inpainting, prompt-to-prompt and
instruction editing)."""

import io

import polars as pl
from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Definitions,
    MaterializeResult,
    MetadataValue,
    MultiToSingleDimensionPartitionMapping,
    asset,
)
from PIL import Image

from resources import GpuResource, ModelsResource, ProjectResource
from semitruths_dagster.generation import resolve_generator, stage
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.storage.resumable import ResumablePartition

from .common import column_schema, counts_table, inline_png, markdown_table, partition_of, versioned_result
from .masks import masks
from .partitions import generation_partitions
from .placement import gpu_step
from .prompts import perturbed_prompts, prompt_filters
from .sources import source_images

BY_DATASET = MultiToSingleDimensionPartitionMapping(partition_dimension_name="dataset")


class GenerationRunConfig(Config):
    force: bool = False  # redo every item of the partition, even those already made


def thumbnails(frame: pl.DataFrame, project: ProjectResource, limit: int = 6, side: int = 96) -> str:
    """A few edited images, inline, for the asset's page in the UI."""
    cells = []
    store = project.images()
    for row in frame.head(limit).iter_rows(named=True):
        image = store.open(row["image_path"]).convert("RGB")
        image.thumbnail((side, side), Image.BICUBIC)
        buf = io.BytesIO()
        image.save(buf, format="PNG")
        cells.append(f"{inline_png(buf.getvalue(), row['prompt'][:40])} `{row['method']}: {row['prompt'][:40]}`")
    return "\n\n".join(cells) or "_no images_"


@asset(
    partitions_def=generation_partitions,
    deps=[
        AssetDep(source_images, partition_mapping=BY_DATASET),
        AssetDep(masks, partition_mapping=BY_DATASET),
        AssetDep(perturbed_prompts, partition_mapping=BY_DATASET),
        prompt_filters,
    ],
    group_name="generation",
    kinds={"pytorch", "diffusers", "parquet"},
    code_version="generations-v2",
    **gpu_step(),
)
def generations(context: AssetExecutionContext, config: GenerationRunConfig, project: ProjectResource,
                gpu: GpuResource, models: ModelsResource) -> MaterializeResult:
    """One row per edited image: the edit request it answers (request, image, mask, magnitude,
    original and perturbed text), the generator and method (inpainting / p2p), seed, steps, guidance,
    scheduler, working size, the image's store path and hash, the black-image flag, and whether the
    weights were random (the tiny profile: such images are noise, for plumbing only). Items commit in
    small chunks: a killed run resumes where it stopped; a finished partition is not redone unless
    `force` is set."""
    cfg = project.config()
    partition = partition_of(context)
    dataset, generator = partition["dataset"], partition["generator"]
    params = cfg.params("generation", stage.GenerationParams)
    profile = cfg.models.profile
    params = params.for_profile(profile)
    tables = project.tables()
    source = ModelSource(profile, params.overrides, cfg.storage_root / "models" / "tiny", project.device)

    def load(method: str):
        return gpu.pipeline(generator, method, source)

    ref = resolve_generator(generator, source)
    # The recorded model is the hub id the weights stand for: stable across storage moves.
    items = stage.plan_dataset(tables, dataset, generator, params, f"{profile}:{ref.hub_id or ref.ref}", cfg.seed,
                               llm=lambda: models.registry(cfg).load("llm"))
    resumable = ResumablePartition(tables, stage.TABLE, partition, "generation_id", stage.SCHEMA)
    frame, counts = stage.run_partition(items, resumable, project.images(), load, params, config.force,
                                        log=context.log.info, batch_size=gpu.batch_size)
    project.warehouse().refresh([stage.TABLE])
    metadata = {
        "dagster/row_count": frame.height,
        "dagster/column_schema": column_schema(stage.TABLE, stage.SCHEMA),
        "made_this_run": counts["made"],
        "already_done": counts["resumed_from"],
        "black_images": int(frame["black"].sum() or 0),
        "by_method": counts_table(frame, "method", "magnitude"),
        "preview": MetadataValue.md(markdown_table(frame.select("method", "prompt", "seed", "steps", "black"))),
        "thumbnails": MetadataValue.md(thumbnails(frame, project)),
    }
    if frame.height and frame["random_weights"].any():
        metadata["warning"] = "Random-weight (tiny) generators: these images are noise, for plumbing only."
    return versioned_result(context, project, stage.TABLE, metadata)


defs = Definitions(assets=[generations])
