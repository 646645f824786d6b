"""The `generations` stage: every kept edit request of one dataset through one generator.

Inpainting rows use the mask's preprocessed soft mask and the perturbed label as prompt; prompt-based
editing rows turn the caption into the perturbed caption. Work is committed in small chunks
(`ResumablePartition`): a killed run resumes with the items not yet done, and a rerun of a finished
partition does nothing. Each item's id covers the request, the generator and every setting, so a
changed setting makes new items and drops the stale ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

import polars as pl

from ..common import derive_seed
from ..prompts.instructions import Instruction, instruction_for, write_with_llm
from ..prompts.records import request_id
from ..provenance import code_version, utc_now
from ..sections import GenerationParams
from ..storage import ImageStore, TableStore
from ..storage.resumable import ResumablePartition
from .registry import INPAINTING, INSTRUCTION, METHODS, P2P, generator_spec
from .results import GenerationResult

# The pipelines (torch, diffusers) are imported by the functions that run them: the settings above are
# read when the Dagster code location loads, which must not import torch.
if TYPE_CHECKING:
    from .inpaint import InpaintItem
    from .instruct import InstructItem
    from .loading import LoadedPipeline
    from .p2p.edit import EditItem, P2PParams

TABLE = "generations"
SCHEMA: dict[str, pl.DataType] = {
    "generation_id": pl.Utf8, "request_id": pl.Utf8, "dataset": pl.Utf8, "image_id": pl.Utf8,
    "mask_id": pl.Utf8, "method": pl.Utf8, "generator": pl.Utf8, "magnitude": pl.Utf8,
    "original_text": pl.Utf8, "prompt": pl.Utf8, "negative_prompt": pl.Utf8, "seed": pl.Int64,
    "steps": pl.Int32, "guidance": pl.Float64, "scheduler": pl.Utf8, "pipeline": pl.Utf8,
    "working_size": pl.List(pl.Int32), "output_size": pl.List(pl.Int32),
    # whether the edit's pixels went through an interpolation filter (input to working size, output back),
    # and which ('in/out', e.g. pil_bicubic/pil_bicubic; null when not resampled)
    "resampled": pl.Boolean, "resample_filter": pl.Utf8, "image_path": pl.Utf8,
    "image_sha256": pl.Utf8, "black": pl.Boolean, "nsfw_flagged": pl.Boolean, "safety_checker": pl.Boolean,
    "random_weights": pl.Boolean, "model_ref": pl.Utf8, "hub_id": pl.Utf8, "device": pl.Utf8, "dtype": pl.Utf8,
    "batch_size": pl.Int32, "elapsed_s": pl.Float64, "peak_gpu_memory_mb": pl.Float64, "params": pl.Utf8,
    "code_version": pl.Utf8,
    # p2p only (null for inpainting): the dtype of inversion + null-text optimisation, and the mean squared
    # error between the source branch sampled back from the inverted noise and the image's latents.
    "inversion_dtype": pl.Utf8, "reconstruction_latent_mse": pl.Float64,
    "created_at": pl.Datetime("us", "UTC"),
}



def p2p_params(params: GenerationParams) -> P2PParams:
    """The prompt-to-prompt settings of a generation section (its `p2p` mapping over steps, guidance, size)."""
    from .p2p.edit import P2PParams

    values = {"steps": params.steps or 50, "guidance": params.guidance or 7.5} | dict(params.p2p)
    if params.size:
        values.setdefault("size", params.size)
    return P2PParams(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


@dataclass(frozen=True)
class WorkItem:
    """One edit to make: the request, the generator and the settings that make it unique."""

    generation_id: str
    request: dict
    method: str
    seed: int
    image_path: str
    mask_path: str | None
    instruction: dict | None = None  # instruction edits: text, template version, kind, edit mode


def _round_robin_by_image(prompts: Sequence[dict]) -> list[dict]:
    """The rows in table order, reordered so that each image's first row comes before any image's
    second (stable within an image), so that the first N of them cover N images where there are N."""
    seen: dict[str, int] = {}
    ranked = []
    for index, row in enumerate(prompts):
        rank = seen[row["image_id"]] = seen.get(row["image_id"], -1) + 1
        ranked.append((rank, index, row))
    return [row for _rank, _index, row in sorted(ranked, key=lambda t: (t[0], t[1]))]


def plan(prompts: Sequence[dict], masks: dict[str, str], images: dict[str, str], generator: str,
         params: GenerationParams, model_ref: str, seed: int,
         instructions: dict[str, Instruction] | None = None) -> list[WorkItem]:
    """The items of one (dataset, generator) partition. `masks`: mask_id -> preprocessed mask path;
    `images`: image_id -> image path (both in the image store); `instructions`: request_id -> an
    instruction written by a language model (else each request's template instruction)."""
    methods = [m for m in params.methods if m in generator_spec(generator).methods]
    settings = {"steps": params.steps, "guidance": params.guidance, "size": params.size, "ref": model_ref,
                "sizing": params.sizing,
                "p2p": asdict(p2p_params(params)) if P2P in methods else None}
    items: list[WorkItem] = []
    taken: dict[str, int] = {}
    if params.max_per_method is not None:  # a capped plan spreads its edits over the images
        prompts = _round_robin_by_image(prompts)
    for row in prompts:
        if not row["valid"]:
            continue
        method = INSTRUCTION if INSTRUCTION in methods else row["method"]
        if method not in methods:
            continue
        if params.max_per_method is not None and taken.get(method, 0) >= params.max_per_method:
            continue
        taken[method] = taken.get(method, 0) + 1
        if method == INSTRUCTION:  # an instruction editor takes label and caption requests alike
            written = (instructions or {}).get(row["request_id"])
            items.append(_instruction_item(row, generator, settings, seed, images, written))
            continue
        settings_for = settings if row["method"] == P2P else {**settings, "p2p": None}
        items.append(WorkItem(
            generation_id=request_id("generation", row["request_id"], generator, row["method"], settings_for, seed),
            request=row, method=row["method"], seed=derive_seed(seed, row["request_id"], generator),
            image_path=images[row["image_id"]],
            mask_path=masks.get(row["mask_id"]) if row["method"] == INPAINTING else None,
        ))
    return items


def _instruction_item(row: dict, generator: str, settings: dict, seed: int, images: dict[str, str],
                      written: Instruction | None = None) -> WorkItem:
    made = written or instruction_for(row["method"], row["original"], row["perturbed"], row["edit_mode"],
                                      row["magnitude"])
    instruction = asdict(made) | {"request_method": row["method"]}
    settings_for = {**settings, "p2p": None, "instruction": instruction}
    return WorkItem(
        generation_id=request_id("generation", row["request_id"], generator, INSTRUCTION, settings_for, seed),
        request=row, method=INSTRUCTION, seed=derive_seed(seed, row["request_id"], generator),
        image_path=images[row["image_id"]], mask_path=None, instruction=instruction,
    )


def llm_instructions(prompts: Sequence[dict], handle: object, seed: int) -> dict[str, Instruction]:
    """Instructions written by the `llm` role's model for every valid request (instruction_backend: llm)."""
    rows = [r for r in prompts if r["valid"]]
    return {r["request_id"]: made for r, made in zip(rows, write_with_llm(handle, rows, seed), strict=True)}


def working_size(generator: str, original: tuple[int, int], params: GenerationParams) -> tuple[int, int]:
    """The working size of one image under the stage's settings (the `resampled` control uses it too)."""
    return generator_spec(generator).working_size(original, params.size, params.sizing)


def _instruct_items(items: Sequence[WorkItem], store: ImageStore, params: GenerationParams,
                    generator: str) -> Iterator[InstructItem]:
    from .instruct import InstructItem

    for item in items:
        image = store.open(item.image_path).convert("RGB")
        yield InstructItem(key=item.generation_id, image=image, instruction=item.instruction["text"],
                           seed=item.seed, steps=params.steps, guidance=params.guidance,
                           size=working_size(generator, image.size, params))


def kept_requests(prompts: pl.DataFrame, filters: pl.DataFrame | None) -> pl.DataFrame:
    """The edit requests that passed prompt_filters (all of them when `filters` is None)."""
    if filters is None:
        return prompts
    if filters.is_empty():
        raise ValueError("prompt_filters is not materialized: materialize it first, or set "
                         "generation.only_kept: false in semitruths.yaml")
    return prompts.join(filters.filter("kept").select("request_id"), on="request_id", how="semi")


def plan_dataset(tables: TableStore, dataset: str, generator: str, params: GenerationParams, model_ref: str,
                 seed: int, llm: Callable[[], object] | None = None) -> list[WorkItem]:
    """The items of one (dataset, generator) partition, from the stage tables. `llm` loads the `llm`
    role's model, called only when an instruction editor runs with instruction_backend: llm."""
    by_dataset = {"dataset": dataset}
    prompts = kept_requests(tables.read("perturbed_prompts", by_dataset),
                            tables.read_all("prompt_filters") if params.only_kept else None).to_dicts()
    mask_rows = tables.read("masks", by_dataset).filter("eligible")
    images = tables.read("source_images", by_dataset)
    instructions = None
    if params.instruction_backend == "llm" and INSTRUCTION in generator_spec(generator).methods:
        if llm is None:
            raise ValueError("generation.instruction_backend is 'llm' but no language model was given")
        instructions = llm_instructions(prompts, llm(), seed)
    return plan(prompts, dict(zip(mask_rows["mask_id"], mask_rows["preprocessed_mask_path"], strict=True)),
                dict(zip(images["image_id"], images["image_path"], strict=True)), generator, params,
                model_ref=model_ref, seed=seed, instructions=instructions)


def _inpaint_items(items: Sequence[WorkItem], store: ImageStore, params: GenerationParams,
                   generator: str) -> Iterator[InpaintItem]:
    from .inpaint import InpaintItem

    for item in items:
        image = store.open(item.image_path).convert("RGB")
        yield InpaintItem(
            key=item.generation_id, image=image, mask=store.open(item.mask_path).convert("L"),
            prompt=item.request["perturbed"], seed=item.seed, steps=params.steps, guidance=params.guidance,
            size=working_size(generator, image.size, params),
        )


def _edit_items(items: Sequence[WorkItem], store: ImageStore, params: GenerationParams,
                generator: str) -> Iterator[EditItem]:
    from .p2p.edit import EditItem

    base = p2p_params(params)
    for item in items:
        image = store.open(item.image_path).convert("RGB")
        # an explicit generation.p2p.size wins; else the image's working size, as for the other methods
        size = base.size if "size" in params.p2p else working_size(generator, image.size, params)
        yield EditItem(key=item.generation_id, image=image, source_caption=item.request["original"],
                       target_caption=item.request["perturbed"], seed=item.seed, params=replace(base, size=size))


def _row(item: WorkItem, result: GenerationResult, store: ImageStore, stage_params: dict) -> dict:
    path, sha = store.put_png(result.image)
    record = result.record()
    request = item.request
    return {
        "generation_id": item.generation_id, "request_id": request["request_id"], "dataset": request["dataset"],
        "image_id": request["image_id"], "mask_id": request["mask_id"], "method": item.method,
        "generator": result.generator, "magnitude": request["magnitude"], "original_text": request["original"],
        "prompt": result.prompt, "negative_prompt": result.negative_prompt, "seed": result.seed,
        "steps": result.steps, "guidance": result.guidance, "scheduler": result.scheduler,
        "pipeline": result.pipeline, "working_size": record["working_size"], "output_size": record["output_size"],
        "resampled": result.resampled, "resample_filter": result.resample_filter,
        "image_path": path, "image_sha256": sha, "black": result.black, "nsfw_flagged": result.nsfw_flagged,
        "safety_checker": result.safety_checker, "random_weights": result.random_weights,
        "model_ref": result.ref, "hub_id": result.hub_id, "device": result.device, "dtype": result.dtype,
        "batch_size": result.batch_size, "elapsed_s": result.elapsed_s,
        "peak_gpu_memory_mb": result.peak_gpu_memory_mb,
        "inversion_dtype": result.params.get("inversion_dtype"),
        "reconstruction_latent_mse": result.params.get("reconstruction_latent_mse"),
        # What the pipeline was called with, the stage settings that chose it, and for instruction edits
        # the instruction's template version and the request it came from, with the request's perturbed
        # label or caption (the evaluation's directional pair original -> perturbed; the prompt column holds
        # the instruction).
        "params": json.dumps({"call": result.params, "stage": stage_params,
                              "instruction": item.instruction and item.instruction | {"perturbed": request["perturbed"]}},
                             sort_keys=True, default=str),
    }


def run_partition(
    items: Sequence[WorkItem], partition: ResumablePartition, store: ImageStore,
    load: Callable[[str], LoadedPipeline], params: GenerationParams, force: bool = False,
    log: Callable[[str], None] = print, batch_size: int | None = None,
) -> tuple[pl.DataFrame, dict]:
    """Make the items not yet done, committing every `chunk_size`; returns the partition and counts.
    batch_size: items per UNet call for both methods (None: the loaded pipeline's settings; the `gpu`
    resource's, which a cached pipeline loaded under another batch size would not carry)."""
    from .inpaint import inpaint
    from .instruct import instruct
    from .p2p.edit import edit

    if force:
        partition.reset()
    done = partition.done_keys()
    todo = [i for i in items if i.generation_id not in done]
    log(f"{len(items)} items, {len(items) - len(todo)} already done, {len(todo)} to make")
    now, version, stage_params = utc_now(), code_version(), asdict(params)
    made = 0
    for method in METHODS:
        batch = [i for i in todo if i.method == method]
        if not batch:
            continue
        loaded = load(method)
        device = replace(loaded.settings, batch_size=batch_size) if batch_size else loaded.settings
        by_id = {i.generation_id: i for i in batch}
        if method == INPAINTING:
            results = inpaint(loaded, _inpaint_items(batch, store, params, loaded.generator), device)
        elif method == INSTRUCTION:
            results = instruct(loaded, _instruct_items(batch, store, params, loaded.generator))
        else:
            results = edit(loaded, _edit_items(batch, store, params, loaded.generator), device,
                           params=p2p_params(params))
        pending: list[dict] = []
        for result in results:
            row = _row(by_id[result.key], result, store, stage_params)
            pending.append(row | {"code_version": version, "created_at": now})
            if len(pending) >= params.chunk_size:
                partition.write_chunk(pending)
                made += len(pending)
                log(f"committed {made}/{len(todo)}")
                pending = []
        partition.write_chunk(pending)
        made += len(pending)
    frame = partition.finalize(keep={i.generation_id for i in items})
    return frame, {"items": len(items), "made": made, "resumed_from": len(items) - len(todo)}
