"""The `change_metrics` stage (paper 3.1, C.2, C.3): how much each edited image changed.

Pixel metrics (MSE, SSIM, Algorithm 2's post-edit area, components, centroid spread) run vectorised
per chunk; LPIPS runs batched on its model; the semantic similarities of the edit request (MiniLM
sentence similarity, CLIP text similarity) come from `perturbed_prompts`, computed once there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import numpy as np
import polars as pl
from PIL import Image

from ..methods import has_input_mask
from ..provenance import code_version, params_json, utc_now
from ..sections import ChangeParams
from ..storage import ImageStore
from .perceptual import DreamSimScorer, LpipsScorer, dreamsim_status
from .pixel import PostEditParams, pixel_metrics_for_pairs

TABLE = "change_metrics"
SCHEMA: dict[str, pl.DataType] = {
    "generation_id": pl.Utf8, "dataset": pl.Utf8, "generator": pl.Utf8, "method": pl.Utf8,
    "image_id": pl.Utf8, "mask_id": pl.Utf8, "magnitude": pl.Utf8,
    "area_ratio": pl.Float64, "mse": pl.Float64, "ssim": pl.Float64, "post_edit_ratio": pl.Float64,
    "n_components": pl.Int64, "largest_component_ratio": pl.Float64, "max_centroid_distance": pl.Float64,
    "max_centroid_distance_norm": pl.Float64, "lpips": pl.Float64, "lpips_net": pl.Utf8,
    "lpips_random_backbone": pl.Boolean, "dreamsim": pl.Float64, "dreamsim_reason": pl.Utf8,
    "sentence_similarity": pl.Float64, "clip_text_similarity": pl.Float64,
    "post_edit_mask_path": pl.Utf8,  # Algorithm 2's final mask (0/255 PNG, image store): the crop of p2p edits
    "params": pl.Utf8, "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}
PIXEL_COLUMNS = ("mse", "ssim", "post_edit_ratio", "n_components", "largest_component_ratio",
                 "max_centroid_distance", "max_centroid_distance_norm")



def compute_change_metrics(
    generations: Sequence[dict], originals: dict[str, str], masks: dict[str, float], prompts: dict[str, dict],
    store: ImageStore, params: ChangeParams, device: str = "cpu",
) -> list[dict]:
    """One row per generation. `originals`: image_id -> store path; `masks`: mask_id -> area_ratio;
    `prompts`: request_id -> {sentence_similarity, clip_text_similarity}."""
    post = PostEditParams(params.pixel_threshold, params.min_noise_size, params.dilation_size,
                          params.min_component_size)
    lpips = LpipsScorer(device=device) if params.lpips else None
    reason = dreamsim_status()
    dreamsim = DreamSimScorer(device) if reason is None else None
    rows: list[dict] = []
    for start in range(0, len(generations), params.chunk_size):
        part = generations[start : start + params.chunk_size]
        edits = [store.open(g["image_path"]).convert("RGB") for g in part]
        origs = [store.open(originals[g["image_id"]]).convert("RGB") for g in part]
        measured = pixel_metrics_for_pairs(list(zip(origs, edits, strict=True)), post,
                                           ssim_win_size=params.ssim_win_size, return_masks=True)
        pixels = measured.to_dict()
        # Stored for every edit (content-addressed, so identical masks share a file); the detectors crop
        # prompt-based edits around it (paper C.1).
        mask_paths = [store.put_png(Image.fromarray(m.astype(np.uint8) * 255, mode="L"))[0] for m in measured.masks]
        lp = lpips.distance(origs, edits) if lpips else [None] * len(part)
        ds = dreamsim.distance(origs, edits) if dreamsim else [None] * len(part)
        for i, g in enumerate(part):
            semantic = prompts.get(g["request_id"], {})
            rows.append({
                "generation_id": g["generation_id"], "dataset": g["dataset"], "generator": g["generator"],
                "method": g["method"], "image_id": g["image_id"], "mask_id": g["mask_id"],
                "magnitude": g["magnitude"],
                "area_ratio": masks.get(g["mask_id"]) if has_input_mask(g["method"]) else None,
                **{c: _scalar(pixels[c][i]) for c in PIXEL_COLUMNS},
                "lpips": lp[i], "lpips_net": LpipsScorer.net if lpips else None,
                "lpips_random_backbone": lpips.random_backbone if lpips else None,
                "dreamsim": ds[i], "dreamsim_reason": reason,
                "sentence_similarity": semantic.get("sentence_similarity"),
                "clip_text_similarity": semantic.get("clip_text_similarity"),
                "post_edit_mask_path": mask_paths[i],
            })
    now, version, text = utc_now(), code_version(), params_json(asdict(params))
    return [row | {"params": text, "code_version": version, "created_at": now} for row in rows]


def _scalar(value) -> float | int | None:
    value = value.item() if isinstance(value, np.generic) else value
    return None if isinstance(value, float) and not np.isfinite(value) else value
