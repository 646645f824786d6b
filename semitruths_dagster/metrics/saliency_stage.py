"""The saliency stages (paper 3.2, B.2): scores per edited image, then pass / fail over all datasets.

`saliency_scores` (per partition) measures each edit: CLIP image similarity original vs edited, CLIP
similarity of the edited image and the perturbed text, directional similarity (the paper's formula),
BRISQUE, and whether it is black; and the same three CLIP scores as the original code computed them
(`*_original`: the `saliency` model role, openai/clip-vit-base-patch32 by default, unnormalized
features, the original's directional formula). `saliency_labels` (over every partition) turns the
scores into pass / fail with the first failing rule: `percentile` windows over the whole dataset on
the paper's scores, or the `released` fixed windows on the original's scores (the units they are in).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import polars as pl

from ..models import LoadedModel, clip_image_embeddings, clip_text_embeddings, hf_clip_features
from ..provenance import code_version, params_json, utc_now
from ..sections import SaliencyParams
from ..storage import ImageStore
from .perceptual import BrisqueScorer
from .saliency import (
    PRESETS,
    apply_saliency,
    cosine_rows,
    directional_similarity,
    directional_similarity_original,
    is_black_image,
    percentile_thresholds,
)

SCORES_TABLE = "saliency_scores"
LABELS_TABLE = "saliency_labels"
_META = {"code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC")}
SCORES_SCHEMA: dict[str, pl.DataType] = {
    "generation_id": pl.Utf8, "dataset": pl.Utf8, "generator": pl.Utf8, "method": pl.Utf8,
    "clip_image_similarity": pl.Float64, "clip_edit_text_similarity": pl.Float64,
    "directional_similarity": pl.Float64, "directional_degenerate": pl.Boolean, "brisque": pl.Float64,
    "black": pl.Boolean, "clip_model": pl.Utf8, "clip_random_weights": pl.Boolean,
    # as the original code computed them: its CLIP (the `saliency` role), unnormalized, its formula
    "clip_image_sim_original": pl.Float64, "clip_edit_text_sim_original": pl.Float64,
    "directional_sim_original": pl.Float64, "saliency_model": pl.Utf8, "saliency_random_weights": pl.Boolean,
    **_META,
}
# The score columns each threshold source applies its windows to.
PAPER_COLUMNS = {"clip_image_sim": "clip_image_similarity", "clip_edit_text_sim": "clip_edit_text_similarity",
                 "directional_sim": "directional_similarity"}
ORIGINAL_COLUMNS = {"clip_image_sim": "clip_image_sim_original", "clip_edit_text_sim": "clip_edit_text_sim_original",
                    "directional_sim": "directional_sim_original"}
PRESET_COLUMNS = {"released": ORIGINAL_COLUMNS}
LABELS_SCHEMA: dict[str, pl.DataType] = {
    "generation_id": pl.Utf8, "dataset": pl.Utf8, "generator": pl.Utf8, "method": pl.Utf8,
    "passed": pl.Boolean, "first_failure": pl.Utf8, "failures": pl.List(pl.Utf8),
    "threshold_source": pl.Utf8, "thresholds": pl.Utf8, "rows_considered": pl.Int64, **_META,
}



def _chunks(rows: Sequence[dict], size: int) -> Iterator[Sequence[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def score_saliency(
    generations: Sequence[dict], originals: dict[str, str], store: ImageStore, clip: LoadedModel,
    params: SaliencyParams, saliency: LoadedModel | None = None,
) -> list[dict]:
    """One scores row per generation. `originals`: image_id -> store path of the source image.

    Generations carry `original_text` (mask label or caption) and `prompt` (the perturbed text).
    `saliency` (the `saliency` role, a transformers CLIPModel) gives the `*_original` scores; without
    it they are null (and the `released` preset refuses to label).
    """
    brisque = BrisqueScorer()
    out: list[dict] = []
    for part in _chunks(list(generations), params.batch_size):
        edits = [store.open(g["image_path"]).convert("RGB") for g in part]
        origs = [store.open(originals[g["image_id"]]).convert("RGB") for g in part]
        oi, ei = clip_image_embeddings(clip, origs).numpy(), clip_image_embeddings(clip, edits).numpy()
        ot = clip_text_embeddings(clip, [g["original_text"] for g in part]).numpy()
        et = clip_text_embeddings(clip, [g["prompt"] for g in part]).numpy()
        directional = directional_similarity(oi, ei, ot, et)
        original = _original_scores(saliency, origs, edits, part) if saliency is not None else None
        black = [bool(is_black_image(np.asarray(e), params.black_threshold)[0]) for e in edits]
        scores = brisque.score(edits)
        for i, g in enumerate(part):
            out.append({
                "generation_id": g["generation_id"], "dataset": g["dataset"], "generator": g["generator"],
                "method": g["method"], "clip_image_similarity": float(np.dot(oi[i], ei[i])),
                "clip_edit_text_similarity": float(np.dot(ei[i], et[i])),
                "directional_similarity": _finite(directional.values[i]),
                "directional_degenerate": bool(directional.degenerate[i]), "brisque": _finite(scores[i]),
                "black": black[i], "clip_model": clip.name, "clip_random_weights": clip.random_weights,
                **({k: _finite(v[i]) for k, v in original.items()} if original is not None else {}),
                "saliency_model": saliency.name if saliency is not None else None,
                "saliency_random_weights": saliency.random_weights if saliency is not None else None,
            })
    now, version = utc_now(), code_version()
    return [row | {"code_version": version, "created_at": now} for row in out]


def _original_scores(saliency: LoadedModel, origs: list, edits: list, part: Sequence[dict]) -> dict[str, np.ndarray]:
    """The three CLIP scores as quality_check/utils.py computed them (unnormalized features; cosines)."""
    oi, ot = (x.numpy() for x in hf_clip_features(saliency, origs, [g["original_text"] for g in part]))
    ei, et = (x.numpy() for x in hf_clip_features(saliency, edits, [g["prompt"] for g in part]))
    return {"clip_image_sim_original": cosine_rows(oi, ei), "clip_edit_text_sim_original": cosine_rows(ei, et),
            "directional_sim_original": directional_similarity_original(oi, ei, ot, et).values}


def _finite(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _array(frame: pl.DataFrame, column: str) -> np.ndarray:
    return frame[column].cast(pl.Float64).fill_null(np.nan).to_numpy()


def label_saliency(scores: pl.DataFrame, params: SaliencyParams) -> list[dict]:
    """Pass / fail for every scored edit, with thresholds over all of `scores` (or the released ones)."""
    if scores.is_empty():
        return []
    if params.thresholds == "percentile":
        thresholds = percentile_thresholds(
            clip_image_sim=_array(scores, "clip_image_similarity"),
            directional_sim=_array(scores, "directional_similarity"),
            clip_image_pct=params.clip_image_percentiles,
            directional_pct=(params.directional_min_percentile, None),
            brisque_max=params.brisque_max, black_threshold=params.black_threshold,
        )
    elif params.thresholds in PRESETS:
        thresholds = PRESETS[params.thresholds]
    else:
        raise ValueError(f"saliency.thresholds must be 'percentile' or one of {sorted(PRESETS)}")
    columns = PRESET_COLUMNS.get(params.thresholds, PAPER_COLUMNS)
    if any(c not in scores.columns or scores[c].null_count() == scores.height for c in columns.values()):
        raise ValueError(f"saliency.thresholds '{params.thresholds}' needs the scores {sorted(columns.values())}, "
                         "which saliency_scores did not compute (re-materialize it with the `saliency` model role)")
    result = apply_saliency(
        thresholds, is_black=scores["black"].to_numpy(), brisque=_array(scores, "brisque"),
        **{rule: _array(scores, column) for rule, column in columns.items()},
    )
    now, version, text = utc_now(), code_version(), params_json(thresholds.to_dict())
    return [
        {"generation_id": g, "dataset": d, "generator": gen, "method": m, "passed": bool(result.passed[i]),
         "first_failure": result.first_failure[i], "failures": list(result.failures[i]),
         "threshold_source": thresholds.source, "thresholds": text, "rows_considered": scores.height,
         "code_version": version, "created_at": now}
        for i, (g, d, gen, m) in enumerate(scores.select("generation_id", "dataset", "generator", "method").iter_rows())
    ]

