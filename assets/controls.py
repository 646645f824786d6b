"""`controls`: confound controls of one dataset by one generator (VAE round trip, pasted-back,
format-matched, resampled), judged by every detector beside the edits. No diffusion sampling: the VAE
alone."""

from dagster import (
    AssetDep,
    AssetExecutionContext,
    Config,
    Definitions,
    MaterializeResult,
    MultiToSingleDimensionPartitionMapping,
    asset,
)

from resources import GpuResource, ProjectResource
from semitruths_dagster.controls import stage as controls_stage
from semitruths_dagster.generation import resolve_generator
from semitruths_dagster.generation.stage import GenerationParams, working_size
from semitruths_dagster.hub import ModelSource
from semitruths_dagster.sources.base import Rejection
from semitruths_dagster.storage.resumable import ResumablePartition

from .common import column_schema, counts_table, partition_of, versioned_result, write_rejections
from .generations import generations
from .masks import masks
from .partitions import generation_partitions
from .placement import gpu_step
from .sources import source_images

BY_DATASET = MultiToSingleDimensionPartitionMapping(partition_dimension_name="dataset")


class ControlsRunConfig(Config):
    force: bool = False  # redo every control of the partition


@asset(
    partitions_def=generation_partitions,
    deps=[AssetDep(source_images, partition_mapping=BY_DATASET), AssetDep(masks, partition_mapping=BY_DATASET),
          generations],
    group_name="detectors",
    kinds={"pytorch", "diffusers", "parquet"},
    code_version="controls-v2",
    **gpu_step(),  # a GPU asset (the VAE)
)
def controls(context: AssetExecutionContext, config: ControlsRunConfig, project: ProjectResource,
             gpu: GpuResource) -> MaterializeResult:
    """One row per control image: `vae_roundtrip` (each real image through this generator's VAE, label
    0), `pasted_back` (each inpainting edit with the original restored outside its soft mask, label 1),
    `format_matched` (each edit in its original's format and JPEG quality, label 1), `resampled` (each
    real image this generator resamples, to its working size and back, label 0), with the VAE, format,
    quality, mask, working size and filters on every row. Resumable in chunks like `generations`."""
    cfg = project.config()
    partition = partition_of(context)
    dataset, generator = partition["dataset"], partition["generator"]
    params = cfg.params("generation", GenerationParams)
    wanted = cfg.params("controls", controls_stage.ControlParams)
    profile = cfg.models.profile
    params = params.for_profile(profile)
    tables = project.tables()
    source = ModelSource(profile, params.overrides, cfg.storage_root / "models" / "tiny", project.device)
    ref = resolve_generator(generator, source)
    edits = tables.read("generations", partition) if tables.exists("generations", partition) else None
    mask_rows = tables.read("masks", {"dataset": dataset})

    def sized(original: tuple[int, int]) -> tuple[int, int]:
        return working_size(generator, original, params)  # as the generations stage chooses it

    items = controls_stage.plan_controls(
        tables.read("source_images", {"dataset": dataset}), edits if edits is not None else edits_empty(),
        dict(zip(mask_rows["mask_id"], mask_rows["preprocessed_mask_path"], strict=True)), generator,
        wanted.kinds, wanted.limit, working_size=sized)

    def load_vae():
        return controls_stage.pipeline_vae(
            gpu.pipeline(generator, "inpainting", source).pipe)

    resumable = ResumablePartition(tables, controls_stage.TABLE, partition, "control_id", controls_stage.SCHEMA)
    random_weights = bool(edits is not None and edits.height and edits["random_weights"].any()) or profile == "tiny"
    frame, counts, failed = controls_stage.run_controls(
        items, resumable, project.images(), dataset, generator, load_vae, f"{profile}:{ref.hub_id or ref.ref}",
        random_weights, force=config.force, log=context.log.info, working_size=sized)
    rejections = [Rejection(f"controls.{generator}", dataset, item.generation_id or item.image_id,
                            item.edit_path or item.source_path, "control_failed", reason) for item, reason in failed]
    metadata = write_rejections(context, project, f"controls.{generator}", dataset, rejections)
    project.warehouse().refresh([controls_stage.TABLE])
    metadata |= {"dagster/row_count": frame.height, "dagster/column_schema": column_schema(controls_stage.TABLE, controls_stage.SCHEMA),
                 "made_this_run": counts["made"], "already_done": counts["resumed_from"],
                 "by_control": counts_table(frame, "control", "format")}
    if random_weights:
        metadata["warning"] = "Random-weight (tiny) generator: its VAE and edits are noise, for plumbing only."
    return versioned_result(context, project, controls_stage.TABLE, metadata)


def edits_empty():
    import polars as pl

    return pl.DataFrame(schema={"generation_id": pl.Utf8, "image_id": pl.Utf8, "mask_id": pl.Utf8,
                                "method": pl.Utf8, "image_path": pl.Utf8})


defs = Definitions(assets=[controls])
