"""The `perturbed_prompts` stage: edit requests for one dataset's masks and images, scored.

Inpainting rows perturb the label of every eligible mask; prompt-based-editing (p2p) rows rewrite a
caption of every image. Each magnitude is asked `per_mask` / `per_image` times.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

import polars as pl

from ..provenance import code_version, params_json, utc_now
from ..sections import PromptParams
from ..storage import ImageStore
from .backends import make_captioner, make_label_perturber, make_rewriter
from .filters import FilterCutoffs, filter_rows
from .orchestrate import perturb_captions, perturb_masks
from .records import ImageRequest, MaskRequest, PromptRow
from .scoring import score_rows

if TYPE_CHECKING:  # the models (torch, transformers) load in the step, not with the code location
    from ..models import ModelRegistry

TABLE = "perturbed_prompts"
FILTER_TABLE = "prompt_filters"



_STR_LIST = pl.List(pl.Utf8)
SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8, "dataset": pl.Utf8, "image_id": pl.Utf8, "mask_id": pl.Utf8, "method": pl.Utf8,
    "original": pl.Utf8, "magnitude": pl.Utf8, "slot": pl.Int32, "perturbed": pl.Utf8, "edit_mode": pl.Utf8,
    "backend": pl.Utf8, "model_ref": pl.Utf8, "model_revision": pl.Utf8, "random_weights": pl.Boolean,
    "template_version": pl.Utf8, "caption_model": pl.Utf8, "seed": pl.Int64, "attempts": pl.Int32,
    "valid": pl.Boolean, "rejection_reasons": _STR_LIST, "raw_output": pl.Utf8,
    "sentence_similarity": pl.Float64, "clip_text_similarity": pl.Float64, "clip_score": pl.Float64,
    "sentence_model": pl.Utf8, "clip_model": pl.Utf8, "clip_random_weights": pl.Boolean,
    "params": pl.Utf8, "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
FILTER_SCHEMA: dict[str, pl.DataType] = {
    "request_id": pl.Utf8, "dataset": pl.Utf8, "method": pl.Utf8, "magnitude": pl.Utf8, "kept": pl.Boolean,
    "filter_reasons": _STR_LIST, "cutoff_source": pl.Utf8, "cutoffs": pl.Utf8, "rows_considered": pl.Int64,
    "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
_ROW_FIELDS = set(PromptRow.__dataclass_fields__)


def largest_masks(masks: list[dict], per_image: int | None) -> list[dict]:
    """The `per_image` largest masks of each image (ties: mask id), in the input order; all when None."""
    if per_image is None:
        return masks
    by_image: dict[str, list[dict]] = {}
    for m in masks:
        by_image.setdefault(m["image_id"], []).append(m)
    keep = {id(m) for group in by_image.values()
            for m in sorted(group, key=lambda m: (-m["area_ratio"], m["mask_id"]))[:per_image]}
    return [m for m in masks if id(m) in keep]


def build_prompt_rows(
    images: list[dict], masks: list[dict], store: ImageStore, registry: ModelRegistry, params: PromptParams,
    seed: int,
) -> list[dict]:
    """Rows of the `perturbed_prompts` table for one dataset (stage tables in, table rows out)."""
    rows: list[PromptRow] = []
    image_paths = {i["image_id"]: str(store.local_path(i["image_path"])) for i in images}
    if "inpainting" in params.methods:
        requests = [
            MaskRequest(m["dataset"], m["image_id"], m["mask_id"], m["label"], image_paths[m["image_id"]],
                        str(store.local_path(m["mask_path"])))
            for m in largest_masks([m for m in masks if m["eligible"]], params.masks_per_image)
        ]
        rows += perturb_masks(
            requests, make_label_perturber(params.label_backend, registry), params.magnitudes, params.per_mask,
            params.sample_magnitude, params.edit_mode, seed, params.retries, params.max_label_words,
        )
    if "p2p" in params.methods:
        requests = [ImageRequest(i["dataset"], i["image_id"], image_paths[i["image_id"]], tuple(i["entities"]))
                    for i in images]
        rows += perturb_captions(
            requests, make_captioner(params.captioner, registry), make_rewriter(params.caption_backend, registry),
            params.magnitudes, params.per_image, params.sample_magnitude, seed, params.retries,
            params.max_caption_words,
        )
    sentence = registry.load("sentence")
    clip = registry.load("clip") if params.score_with_clip else None
    rows = score_rows(rows, sentence=sentence, clip=clip)
    now, version, settings = utc_now(), code_version(), params_json({**asdict(params), "seed": seed})
    return [
        {
            **{k: v for k, v in row.to_dict().items() if k in SCHEMA},
            "sentence_model": sentence.name,
            "clip_model": clip.name if clip else None,
            "clip_random_weights": clip.random_weights if clip else None,
            "params": settings, "code_version": version, "created_at": now,
        }
        for row in rows
    ]


def filter_prompt_rows(rows: list[dict], params: PromptParams) -> tuple[list[dict], FilterCutoffs]:
    """`prompt_filters` rows over every partition's prompts: percentile cutoffs over the whole dataset,
    or the configured fixed thresholds."""
    prompts = [PromptRow(**{k: v for k, v in r.items() if k in _ROW_FIELDS}) for r in rows]
    filtered, cutoffs = filter_rows(
        prompts, params.clipscore_percentile, params.text_sim_percentiles, params.clipscore_min,
        params.text_sim_bounds,
    ) if prompts else ([], None)
    now, version, cutoffs_text = utc_now(), code_version(), params_json(cutoffs) if cutoffs else None
    return [
        {"request_id": r.request_id, "dataset": r.dataset, "method": r.method, "magnitude": r.magnitude,
         "kept": r.kept, "filter_reasons": r.filter_reasons, "cutoff_source": cutoffs.source,
         "cutoffs": cutoffs_text, "rows_considered": len(prompts), "code_version": version, "created_at": now}
        for r in filtered
    ], cutoffs

