"""What each table holds, in one place: the README's table of assets and its column reference, and the
column descriptions the Dagster UI shows for every asset (`assets/common.py` builds the `TableSchema`
from `describe`). `tests/test_columns.py` checks that the README shows exactly `readme_markdown()`, so the
two never drift apart: change the text here, then run `python -m semitruths_dagster.columns` and paste its
output over the README's table (from `| asset |` to the end of the column reference).
"""

from __future__ import annotations

import re

# asset (or table) -> (one row is, partitioned by): the README's table of assets, in graph order.
ASSETS: dict[str, tuple[str, str]] = {
    "source_images": ("one real image: id, benchmark, store path, size, entity classes, content hash, scene diversity",
                      "dataset"),
    "segments": ("one segment the `segmenter` role drew in an image of an `adapter: folder` source: class label and "
                 "id, score, thing / stuff, area, mask, the model (and SAM refiner), kept or the filter that "
                 "dropped it; empty for other sources", "dataset"),
    "masks": ("one mask of an accepted image: label, its source adapter (`mask_source`) and, for drawn masks, the "
              "`segmenter` and `segment_score`, binarized and preprocessed mask paths, area ratio, eligibility "
              "(>= 5% area), scene diversity / complexity of its image (binned once, over every dataset, by `bins`)",
              "dataset"),
    "released_edits": ("one edited image of a released Semi-Truths evaluation set (`adapter: released`), with its "
                       "method, generator, magnitude, change metrics and bins as released, store path and hash, csv "
                       "line and row; empty for other sources", "dataset"),
    "quarantine": ("one rejected input item: stage, file, csv line, the rule it broke, the message", "stage x dataset"),
    "perturbed_prompts": ("one edit request: mask label (inpainting) or caption (p2p), target magnitude, perturbed "
                          "text, alter / replace, backend, model, template version, seed, attempts, validity with "
                          "every rejection reason, MiniLM and CLIP text similarity, CLIPScore", "dataset"),
    "prompt_filters": ("one edit request of any dataset: kept or not, the filters it failed, the cutoffs (percentiles "
                       "over every dataset, or fixed)", "- (all datasets)"),
    "generations": ("one edited image: request, generator, method (inpainting / p2p), prompt, seed, steps, guidance, "
                    "scheduler, `working_size` / `output_size` (w, h), `resampled` (the input was resized to the "
                    "working size or the output back: its pixels went through an interpolation filter) and "
                    "`resample_filter` (`in/out`, e.g. `pil_bicubic/pil_bicubic`, `none` for a direction not taken; "
                    "null when not resampled), store path and hash, black-image flag, random_weights",
                    "dataset x generator"),
    "controls": ("one control image (a real image pasted back or through the VAE round trip, a re-encoded real "
                 "image ...) that tells an edit detector from a pipeline detector", "dataset x generator"),
    "saliency_scores": ("CLIP image similarity, CLIP edited-image vs perturbed-text similarity, directional similarity "
                        "(the paper's formula), BRISQUE, black; beside them the same CLIP scores as the original code "
                        "computed them (`*_original`: role `saliency`, its directional formula "
                        "`directional_sim_original`)", "dataset x generator"),
    "saliency_labels": ("pass / fail of one edit with the first failing rule, thresholds over every partition (or the "
                        "released fixed ones)", "- (all datasets)"),
    "change_metrics": ("area ratio, MSE, SSIM, post-edit area (Algorithm 2, both original bugs fixed) and its mask "
                       "(image store), components, largest share, centroid spread, LPIPS, DreamSim (or why not), "
                       "sentence and CLIP text similarity", "dataset x generator"),
    "bins": ("3- and 5-level bin of every metric with dataset-wide, direction-aware cutoffs; localized / diffused; "
             "scene bins", "- (all datasets)"),
    "bin_cutoffs": ("the cutoffs of one metric's bins (written by `bins`) and the datasets they came from",
                    "- (all datasets)"),
    "detector_predictions": ("one detector's P(fake) for one real or edited image, with its mask-aware crop box, the "
                             "mask it came from, why it fell back (if it did) and cache key",
                             "dataset x detector (dynamic)"),
    "evaluation": ("one detector's metrics at the default and a calibrated threshold with cluster-bootstrap intervals "
                   "(by source image); breakdowns with Wilson intervals in its JSON, plots and HTML report",
                   "detector (dynamic)"),
    "localization_predictions": ("one detector's map of P(edited) per pixel for one real, edited or control image "
                                 "under one condition: native (a localizer) or sliding-window, stored as an 8-bit "
                                 "PNG in the image store with its hash, the map's maximum and the image-level score",
                                 "dataset x detector (dynamic)"),
    "localization_evaluation": ("one detector's pixel-level F1 / IoU / MCC (at 0.5 and the best threshold per "
                                "image), pixel AUROC per image and pooled, against the request's mask and the "
                                "post-edit mask; false-alarm area on real images; image-level AUROC from the map; "
                                "intervals, breakdowns and gallery in its JSON and report section",
                                "detector (dynamic)"),
    "leaderboard": ("one row per detector, best ROC-AUC first, with intervals; a self-contained page (sortable "
                    "table, forest plot, recall heatmap, links to the reports)", "-"),
}

# Columns that mean the same in every table that has them.
SHARED: dict[str, str] = {
    "dataset": "source dataset (a `sources:` entry of semitruths.yaml): the partition",
    "generator": "generator name (a `generation.generators` entry)",
    "detector": "detector name (its spec in the registry folder)",
    "image_id": "id of the real source image",
    "mask_id": "id of the mask the edit used (null: no mask)",
    "generation_id": "id of the edited image",
    "request_id": "id of the edit request (perturbed prompt)",
    "method": "editing method: inpainting, p2p or instruction",
    "magnitude": "target size of the change: small, medium or large",
    "image_path": "path of the image in the content-addressed image store",
    "image_sha256": "SHA-256 of the image file",
    "random_weights": "true when the model had random weights: its output is plumbing, not science",
    "params": "the stage parameters that made the row (JSON)",
    "code_version": "code version of the stage that wrote the row",
    "created_at": "when the row was written (UTC)",
    "width": "image width in pixels",
    "height": "image height in pixels",
    "label": "ground truth: 0 real, 1 fake (controls); the mask's entity label (masks)",
    "working_size": "(w, h) the generator worked at",
    "resample_filter": "interpolation filters `in/out` when the image was resampled, else null",
    "rows_considered": "rows of every dataset the cutoffs were computed over",
    "scene_diversity": "distinct entity classes in the image",
    "scene_complexity": "number of masks (entities) in the image",
    "area_ratio": "mask area / image area",
    "post_edit_ratio": "share of the image that changed after the edit (Algorithm 2)",
    "mse": "mean squared error of the edited vs the original image (pixels in [0, 1])",
    "ssim": "structural similarity of the edited vs the original image",
    "lpips": "LPIPS perceptual distance (AlexNet)",
    "dreamsim": "DreamSim perceptual distance (null with dreamsim_reason when not computed)",
    "sentence_similarity": "MiniLM cosine similarity of the original and the perturbed text",
    "clip_text_similarity": "CLIP text-embedding similarity of the original and the perturbed text",
    "n_components": "connected components of the changed area",
    "largest_component_ratio": "share of the changed area in its largest component",
    "max_centroid_distance": "largest distance between component centroids (pixels)",
    "clip_image_sim_original": "CLIP image similarity original vs edited, as the original code computed it",
    "clip_edit_text_sim_original": "CLIP similarity of edited image and perturbed text, as the original code",
    "directional_sim_original": "directional CLIP similarity with the original code's formula",
    "original_text": "the text before the edit (mask label or caption)",
    "prompt": "the prompt the generator got",
    "model_ref": "model the row came from (hub id or local folder)",
    "device": "device the model ran on",
    "dtype": "precision the model ran in",
    "batch_size": "batch size of the run",
    "format": "image file format",
    "source_path": "path of the input file, relative to the source root",
    "mask_path": "path of the mask in the image store",
    "black": "the edited image is (almost) all black (a safety-checker or failed output)",
    "threshold": "decision threshold of the call",
    "protocol": "detectors.protocol the input transform came from: authors (each detector's own) or paper "
                "(the Semi-Truths evaluation code's one transform)",
    "image_kind": "real, edited or control",
    "control": "control kind (null for the clean images and edits)",
    "condition": "perturbation applied before scoring (clean: none)",
    "detector_version": "version of the detector spec",
    "plugin": "detector plugin that built the model",
    "metric": "the change metric",
}

# Columns of one table (or a meaning there that differs from SHARED).
COLUMNS: dict[str, dict[str, str]] = {
    "source_images": {
        "benchmark": "benchmark the image comes from (e.g. ADE20K, CelebAHQ)",
        "source_root": "root folder of the source",
        "entities": "entity labels of the image's masks",
        "classes": "entity classes of the image",
        "masks_listed": "masks the source lists for the image",
    },
    "segments": {
        "segment_id": "<image_id>#<n>, n by decreasing score",
        "label": "class label the segmenter gave the segment",
        "label_id": "class id in the segmenter's label set",
        "score": "the segmenter's confidence in the segment",
        "is_thing": "a thing class (countable object), not stuff",
        "area_ratio": "segment area / image area",
        "mask_path": "binary 0/255 mask PNG in the image store",
        "refined": "SAM (role `refiner`) redrew the mask from the segment's box",
        "refine_score": "SAM's predicted IoU of the refined mask (null when not refined)",
        "kept": "the segment passed every filter and becomes a mask",
        "filter_reason": "the filter that dropped it (null when kept)",
        "segmenter": "hub id (or folder) of the segmentation model, with its revision",
        "refiner": "hub id (or folder) of the SAM refiner (null when not refining)",
    },
    "masks": {
        "mask_source": "adapter that made the mask: the benchmark's own (e.g. standardized, ade20k) or folder "
                       "(drawn by the segmenter)",
        "segmenter": "model that drew the mask (null for a benchmark's own masks)",
        "segment_score": "the segmenter's confidence in the mask (null for a benchmark's own masks)",
        "mask_id": "id of the mask",
        "label": "entity label of the mask",
        "mask_sha256": "SHA-256 of the binarized mask",
        "preprocessed_mask_path": "store path of the mask after mode filter and blur (what the inpainting uses)",
        "preprocessed_sha256": "SHA-256 of the preprocessed mask",
        "declared_ratio": "area ratio the source declared (null when none)",
        "source_was_binary": "the source mask had only two values",
        "eligible": "area ratio >= masks.min_area_ratio: the mask may be inpainted",
        "exclusion_reason": "why the mask is not eligible (null when it is)",
    },
    "released_edits": {
        "released_model": "generator name as the release spells it",
        "language_model": "language model that wrote the released prompt",
        "quality_flag": "the release's quality flag of the edit",
        "post_edit_ratio_gray": "post-edit ratio on grayscale images, as released",
        "mse_gray": "MSE on grayscale images, as released",
        "ssim_gray": "SSIM on grayscale images, as released",
        "n_components_gray": "components on grayscale images, as released",
        "largest_component_ratio_gray": "largest component share on grayscale images, as released",
        "max_centroid_distance_gray": "centroid spread on grayscale images, as released",
        "issues": "cells of the released row that could not be read",
        "released_path": "path of the edited image in the release",
        "released_line": "line of the row in the release's csv",
        "released_row": "the release's csv row as read (JSON)",
        "source_file": "the release's csv file",
    },
    "quarantine": {
        "stage": "stage that rejected the item",
        "item_id": "id of the rejected item (null when it has none)",
        "file": "file the item came from",
        "line": "csv line of the item (null when not from a csv)",
        "rule": "the rule it broke (e.g. decodable, mask_size_matches_image)",
        "message": "what was wrong, in one line",
    },
    "perturbed_prompts": {
        "original": "mask label (inpainting) or caption (p2p) before the edit",
        "slot": "which request of the mask / image and magnitude",
        "perturbed": "the perturbed text",
        "edit_mode": "alter or replace",
        "backend": "backend that wrote the perturbation (rules, llava, llm)",
        "model_revision": "revision of the model",
        "template_version": "version of the prompt template",
        "caption_model": "captioner of the p2p caption",
        "seed": "seed of the accepted attempt",
        "attempts": "attempts made (retries with new seeds)",
        "valid": "the perturbation passed every validation rule",
        "rejection_reasons": "every rule the attempts broke",
        "raw_output": "the backend's raw text",
        "clip_score": "CLIPScore of the original image and the perturbed text",
        "sentence_model": "sentence-similarity model (MiniLM)",
        "clip_model": "CLIP model of the text similarity and CLIPScore",
        "clip_random_weights": "CLIP had random weights",
    },
    "prompt_filters": {
        "kept": "the request passed every filter and goes to generation",
        "filter_reasons": "the filters it failed",
        "cutoff_source": "percentile (over every dataset) or fixed",
        "cutoffs": "the cutoffs applied (JSON)",
    },
    "generations": {
        "negative_prompt": "negative prompt (null when none)",
        "seed": "generation seed",
        "steps": "denoising steps",
        "guidance": "classifier-free guidance scale",
        "scheduler": "diffusion scheduler",
        "pipeline": "diffusers pipeline class",
        "output_size": "(w, h) of the saved image",
        "resampled": "the input was resized to the working size or the output back",
        "nsfw_flagged": "the safety checker flagged the image",
        "safety_checker": "safety checker used (null: off)",
        "hub_id": "hub id of the generator's weights",
        "elapsed_s": "seconds the item took",
        "peak_gpu_memory_mb": "peak GPU memory of the run (MB)",
        "inversion_dtype": "precision of the null-text inversion (p2p)",
        "reconstruction_latent_mse": "latent MSE of the inversion's reconstruction (p2p)",
    },
    "controls": {
        "control_id": "id of the control image",
        "vae": "VAE of the round trip (null when none)",
        "quality": "JPEG quality of a re-encoding (null when none)",
        "subsampling": "JPEG chroma subsampling of a re-encoding",
        "mask_path": "soft mask of the paste-back (null when none)",
    },
    "saliency_scores": {
        "clip_image_similarity": "CLIP image similarity original vs edited",
        "clip_edit_text_similarity": "CLIP similarity of the edited image and the perturbed text",
        "directional_similarity": "directional CLIP similarity (the paper's formula)",
        "directional_degenerate": "the directional similarity had a zero-length direction",
        "brisque": "BRISQUE quality score of the edited image (lower is better)",
        "clip_model": "CLIP model of the similarities",
        "clip_random_weights": "CLIP had random weights",
        "saliency_model": "model of the `*_original` scores (role saliency)",
        "saliency_random_weights": "the saliency model had random weights",
    },
    "saliency_labels": {
        "passed": "the edit passed every saliency rule",
        "first_failure": "the first rule it failed",
        "failures": "every rule it failed",
        "threshold_source": "percentile (over every partition) or released",
        "thresholds": "the thresholds applied (JSON)",
    },
    "change_metrics": {
        "max_centroid_distance_norm": "centroid spread / image diagonal",
        "lpips_net": "LPIPS backbone",
        "lpips_random_backbone": "LPIPS ran on a random backbone (weights not in the torch cache)",
        "dreamsim_reason": "why DreamSim is null",
        "post_edit_mask_path": "store path of the post-edit change mask",
    },
    "bins": {
        "localization": "localized or diffused change",
        "mean_n_components": "mean component count over the dataset (the localization cutoff)",
    },
    "bin_cutoffs": {
        "direction": "higher: bigger change, or lower: bigger change (similarities)",
        "levels": "number of bins (3 or 5)",
        "percentiles": "percentiles the cutoffs sit at",
        "cutoffs": "the cutoff values",
        "labels": "bin labels, smallest change first",
        "n_values": "values the cutoffs were computed from",
        "n_nan": "missing values skipped",
        "computed_over": "datasets the cutoffs came from",
    },
    "detector_predictions": {
        "cache_key": "detector, version, image hash, preprocessing (and dtype): reuse key of the score",
        "label": "ground truth: real or fake",
        "score": "P(fake)",
        "predicted_fake": "score >= threshold",
        "preprocessing": "preprocessing signature (resize, crop, normalization)",
        "crop_box": "mask-aware crop box (x0, y0, x1, y1)",
        "crop_mask_share": "share of the crop inside the edit mask",
        "crop_source": "mask the box came from: edit_mask, post_edit_mask or twin",
        "crop_fallback": "why the crop fell back to the centre (null when it did not)",
        "reused_from_cache": "the score was reused from an earlier run",
        "images_per_s": "the run's scoring speed (images per second)",
    },
    "localization_predictions": {
        "row_key": "the scored image and condition (one row per key and detector)",
        "map_key": "detector, version, image hash, preprocessing, map settings and condition: reuse key of the map",
        "detector_version": "version of the detector's spec",
        "plugin": "the detector's plugin",
        "map_source": "native (the localizer's own map) or sliding_window (windows scored and averaged)",
        "label": "ground truth: 0 real, 1 fake",
        "image_height": "height of the scored image in pixels",
        "image_width": "width of the scored image in pixels",
        "map_path": "path of the 8-bit map PNG in the image store",
        "map_sha256": "SHA-256 of the map PNG",
        "map_height": "height of the stored map (localization.map_size, aspect kept)",
        "map_width": "width of the stored map",
        "score": "image-level P(fake): the localizer's own score, or the map's maximum",
        "map_max": "largest value of the map",
        "windows": "windows scored (sliding window; null for a native map)",
        "map_settings": "map source, window / stride / cap and stored size: part of the reuse key",
        "reused_from_cache": "the map was reused from an earlier run",
        "maps_per_s": "the run's mapping speed (maps per second)",
    },
    "localization_evaluation": {
        "detector_version": "version of the detector's spec",
        "map_source": "native or sliding_window",
        "n_maps": "maps scored",
        "n_edits": "edited images with a ground-truth mask",
        "n_reals": "real images (false-alarm area)",
        "threshold": "the fixed pixel threshold (0.5)",
        "false_alarm_area": "mean share of pixels flagged (>= threshold) on real images",
        "image_auroc_map_max": "image-level ROC-AUC of the map's maximum (real vs edited)",
        "image_auroc_own_score": "image-level ROC-AUC of the detector's own score",
        "result_path": "the result JSON (every breakdown with its interval)",
        "section_path": "the report section (HTML)",
    },
    "evaluation": {
        "n_real": "real images judged",
        "n_edited": "edited images judged",
        "edits_random_weights": "the edits came from random-weight generators",
        "target_fpr": "false-positive rate on real images the calibrated threshold aims at",
        "result_path": "the result JSON (every breakdown with its interval)",
        "report_path": "the HTML report",
        "datasets": "datasets the predictions came from",
    },
    "leaderboard": {  # besides the page's columns (evaluation/columns.py), which say what they are there
        "edits_random_weights": "edited images made by random-weight generators (their scores are noise)",
        "worst_condition_roc_auc": "ROC-AUC under the worst condition",
        "target_fpr": "false-positive rate on real images the calibrated threshold aims at",
    },
}

_METRICS = {
    "accuracy": "accuracy", "balanced_accuracy": "balanced accuracy", "real_recall": "recall of real images",
    "fake_recall": "recall of edited images", "fake_precision": "precision of the fake call",
    "fake_f1": "F1 of the fake class", "macro_f1": "macro F1 over real and fake", "threshold": "threshold",
    "roc_auc": "ROC-AUC", "average_precision": "average precision",
}
# Pixel-level localization metrics (localization/metrics.py), as `<truth>_<metric>` columns.
_PIXEL_METRICS = {
    "f1": "pixel F1 at 0.5", "iou": "pixel IoU at 0.5", "mcc": "pixel MCC at 0.5",
    "f1_best": "pixel F1 at each image's best threshold (an upper bound)",
    "iou_best": "pixel IoU at each image's best threshold (an upper bound)",
    "auroc": "pixel ROC-AUC per image", "pooled_auroc": "pixel ROC-AUC over the pooled pixels",
}
# Column families named by a pattern: (regex, description template on its groups).
_PATTERNS: list[tuple[str, str]] = [
    (r"(\w+)_bin5", "5-level bin of {0} (very_small ... very_large), cutoffs over every dataset"),
    (r"(\w+)_bin", "3-level bin of {0} (small, medium, large), cutoffs over every dataset"),
    (r"(default|calibrated)_(\w+)", "{m1} at the {0} threshold"),
    (r"(\w+)_(low|high)", "{m0}: {1} end of the bootstrap interval"),
    (r"(edit_mask|post_edit_mask)_(\w+)", "{m1}, against the {0} as ground truth (mean per image)"),
]


def _metric(name: str) -> str | None:
    return _METRICS.get(name) or _PIXEL_METRICS.get(name) or SHARED.get(name)


def describe(table: str, column: str) -> str:
    """The description of `column` of `table`; KeyError for a column nobody described (the tests
    require one for every column; `assets/common.py` leaves a new one blank rather than fail a run)."""
    own = COLUMNS.get(table, {})
    if column in own:
        return own[column]
    if column in _METRICS and table in ("evaluation", "leaderboard"):
        return _METRICS[column]
    if column in SHARED:
        return SHARED[column]
    if table == "leaderboard":  # the page's columns say what they are where they are defined
        from .evaluation.columns import page_columns

        page = {c.key: c.doc for c in page_columns()} | own
        base = column.removesuffix("_lo").removesuffix("_hi")
        if base in page:
            return page[base] if base == column else f"{page[base]}: {column[len(base) + 1:]} end of its interval"
    for pattern, template in _PATTERNS:
        match = re.fullmatch(pattern, column)
        if match:
            groups = match.groups()
            words = {f"m{i}": _metric(g) or own.get(g) for i, g in enumerate(groups)}
            if all(v is not None for k, v in words.items() if f"{{{k}}}" in template):
                return template.format(*groups, **words)
    raise KeyError(f"column '{column}' of '{table}' has no description in semitruths_dagster/columns.py")


def fixed_schemas() -> dict[str, list[str]]:
    """Every table whose columns are known without running it, in ASSETS order (bins: default settings)."""
    from .controls import stage as controls_stage
    from .detectors import stage as predict_stage
    from .evaluation import stage as eval_stage
    from .generation import stage as generation_stage
    from .localization import evaluation_stage as loc_eval_stage
    from .localization import stage as loc_stage
    from .masks import stage as mask_stage
    from .metrics import bins_stage, change_stage, saliency_stage
    from .prompts import stage as prompt_stage
    from .quarantine import SCHEMA as QUARANTINE
    from .sources import ingest_stage, released_stage, segments_stage

    schemas = {
        "source_images": ingest_stage.SCHEMA, "segments": segments_stage.SCHEMA, "masks": mask_stage.SCHEMA, "released_edits": released_stage.SCHEMA,
        "quarantine": QUARANTINE, "perturbed_prompts": prompt_stage.SCHEMA, "prompt_filters": prompt_stage.FILTER_SCHEMA,
        "generations": generation_stage.SCHEMA, "controls": controls_stage.SCHEMA,
        "saliency_scores": saliency_stage.SCORES_SCHEMA, "saliency_labels": saliency_stage.LABELS_SCHEMA,
        "change_metrics": change_stage.SCHEMA, "bins": bins_stage.schema(bins_stage.BinParams()),
        "bin_cutoffs": bins_stage.CUTOFFS_SCHEMA, "detector_predictions": predict_stage.SCHEMA,
        "evaluation": eval_stage.SCHEMA, "localization_predictions": loc_stage.SCHEMA,
        "localization_evaluation": loc_eval_stage.SCHEMA,
    }
    return {table: list(schemas[table]) for table in ASSETS if table in schemas}


def readme_markdown() -> str:
    """The README's table of assets and, folded below it, the columns of each table."""
    lines = ["| asset | one row is | partitioned by |", "|---|---|---|"]
    lines += [f"| `{name}`{' (table)' if name in ('quarantine', 'bin_cutoffs') else ''} | {row} | {over} |"
              for name, (row, over) in ASSETS.items()]
    lines += ["", "Columns of each table (the same descriptions as the tables' schemas in the Dagster UI; "
              "`leaderboard`: the evaluation's metrics, `default_*` / `calibrated_*` at each threshold, and "
              "the robustness summary):", ""]
    for table, columns in fixed_schemas().items():
        lines += [f"<details><summary><code>{table}</code> ({len(columns)} columns)</summary>", "",
                  "| column | meaning |", "|---|---|"]
        lines += [f"| `{c}` | {describe(table, c)} |" for c in columns]
        lines += ["", "</details>"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(readme_markdown())
