"""Export of this project's results in the released evaluation set's layout, which `adapter: released`
reads back: `metadata.csv` (one row per real and per edited image, the released columns) with
`original/{images,masks}/<dataset>/`, `inpainting/<dataset>/<model>/` and `prompt-based-editing/<dataset>/<model>/`.

Similarities go out as the release stored them (sentence similarity as 1 - max(cos, 0)), component
columns in the original's units (`to_released_units`: the count with the background, the largest
component in pixels, a spread of -1 with fewer than two components); bins go out as
`*_category` in five levels (`<metric>_bin5`), scene bins in three. Columns the project does not compute
(the gray-scale variants, quality_flag) stay empty, as missing values do in the release. Two columns the
release lacks say where each row came from: `random_weights` (edits made by random-weight models are
noise) and `generation_id`; and two where its mask came from: `mask_source` (the source adapter) and
`segmenter` (the model that drew it, for `adapter: folder`).
"""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import polars as pl

from ..metrics.bins_stage import scene_bins
from ..paths import resolve_inside
from ..provenance import code_version, utc_now
from ..storage import ImageStore, TableStore
from .released import released_models, to_released_units

# Method -> folder of the released layout (instruction edits, not in the release, get their own).
FOLDERS = {"inpainting": "inpainting", "p2p": "prompt-based-editing", "instruction": "instruction"}
# (released column, our column) of the change metrics and saliency scores
VALUES = [("cap2_img2", "clip_edit_text_sim_original"), ("direct_sim", "directional_sim_original"),
          ("clip_sim", "clip_image_sim_original"), ("dreamsim", "dreamsim"), ("lpips_score", "lpips"),
          ("sen_sim", "sentence_similarity"), ("mse_rgb", "mse"), ("ssim_rgb", "ssim"), ("ratio_rgb", "post_edit_ratio"),
          ("largest_component_size_rgb", "largest_component_ratio"), ("cc_cluters_rgb", "n_components"),
          ("cluster_dist_rgb", "max_centroid_distance")]
CATEGORIES = [("ratio_category", "area_ratio_bin5"), ("mse_rgb_category", "mse_bin5"),
              ("ssim_rgb_category", "ssim_bin5"), ("lpips_score_category", "lpips_bin5"),
              ("sen_sim_category", "sentence_similarity_bin5"), ("dreamsim_category", "dreamsim_bin5"),
              ("ratio_rgb_category", "post_edit_ratio_bin5")]
HEADER = ["image_id", "image_path", "dataset", "entities", "class", "label", "mask_id", "mask_path", "mask_name",
          "ratio", "method", "model", "perturbed_mask_name", "sem_magnitude", "language_model", "quality_flag",
          *(c for c, _ in VALUES), "mse_gray", "ssim_gray", "ratio_gray", "cc_clusters_gray",
          "largest_component_size_gray", "cluster_dist_gray", *(c for c, _ in CATEGORIES), "scene_diversity",
          "scene_complexity", "scene_diversity_category", "scene_complexity_category", "random_weights",
          "generation_id", "instruction", "mask_source", "segmenter"]


def _text(value) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.10g}"
    if isinstance(value, list):
        return str([str(v) for v in value])
    return str(value)


def _copy(store: ImageStore, relpath: str, out: Path, target: str) -> str:
    """Copy a stored file to `out/target` (+ its suffix); ids from metadata never lead outside `out`."""
    target = f"{target}{Path(relpath).suffix}"
    path = resolve_inside(out, target)
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(store.local_path(relpath), path)
    return target


def _first_per(frame: pl.DataFrame, key: str) -> dict[str, dict]:
    return {r[key]: r for r in frame.unique(key, keep="first", maintain_order=True).iter_rows(named=True)} \
        if not frame.is_empty() else {}


def export_released(tables: TableStore, store: ImageStore, out: Path, only_salient: bool = False) -> dict:
    """Write the export under `out` (which must not exist yet); returns counts."""
    if out.exists():
        raise FileExistsError(f"{out} exists: export into a new folder")
    images = tables.read_all("source_images")
    if images.is_empty():
        raise ValueError("source_images is not materialized: nothing to export")
    masks, edits = tables.read_all("masks"), tables.read_all("generations")
    out.mkdir(parents=True)
    # Scene bins by the one definition (bins_stage.scene_bins: mean +- std over every dataset at once).
    scenes = _first_per(scene_bins(masks)[0], "image_id") if not masks.is_empty() else {}
    mask_rows = _first_per(masks, "mask_id")
    rows, random_weights = [], False
    for image in images.sort("dataset", "image_id").iter_rows(named=True):
        scene = scenes.get(image["image_id"], {})
        rows.append({
            "image_id": image["image_id"], "dataset": image["benchmark"], "entities": _text(image["entities"]),
            "class": _text(image["classes"]), "label": "real",
            "image_path": _copy(store, image["image_path"], out, f"original/images/{image['dataset']}/{image['image_id']}"),
            "scene_diversity": _text(scene.get("scene_diversity")), "scene_complexity": _text(scene.get("scene_complexity")),
            "scene_diversity_category": _text(scene.get("scene_diversity_bin")),
            "scene_complexity_category": _text(scene.get("scene_complexity_bin")),
        })
    if not edits.is_empty():
        originals = _first_per(images, "image_id")
        by_id = {t: _first_per(tables.read_all(t), "generation_id")
                 for t in ("change_metrics", "saliency_scores", "saliency_labels", "bins")}
        prompts = _first_per(tables.read_all("perturbed_prompts"), "request_id")
        model_names = {ours: released for released, ours in released_models().items()}
        for edit in edits.sort("dataset", "generation_id").iter_rows(named=True):
            gid = edit["generation_id"]
            passed = by_id["saliency_labels"].get(gid, {}).get("passed")
            if only_salient and not passed:
                continue
            merged = by_id["change_metrics"].get(gid, {}) | by_id["saliency_scores"].get(gid, {}) | by_id["bins"].get(gid, {})
            mask = mask_rows.get(edit["mask_id"], {})
            scene = scenes.get(edit["image_id"], {})
            model = model_names.get(edit["generator"], edit["generator"])
            folder = FOLDERS[edit["method"]]
            original = originals.get(edit["image_id"], {})
            # Component columns in the original's units (metrics were measured at the original's size).
            ours = to_released_units({o: merged.get(o) for _, o in VALUES}, original.get("width") or 0,
                                     original.get("height") or 0)
            values = {c: ours[o] for c, o in VALUES}
            if values["sen_sim"] is not None:
                values["sen_sim"] = 1.0 - max(values["sen_sim"], 0.0)  # as the release stored it
            random_weights |= bool(edit["random_weights"])
            inpainting = edit["method"] == "inpainting"
            rows.append({
                "image_id": edit["image_id"], "dataset": originals.get(edit["image_id"], {}).get("benchmark"),
                "entities": _text(originals.get(edit["image_id"], {}).get("entities")),
                "class": _text(originals.get(edit["image_id"], {}).get("classes")),
                "label": "fake", "method": edit["method"], "model": model,
                "image_path": _copy(store, edit["image_path"], out, f"{folder}/{edit['dataset']}/{model}/{gid}"),
                "mask_id": _text(edit["mask_id"]), "mask_name": _text(edit["original_text"] if inpainting else None),
                "mask_path": _copy(store, mask["mask_path"], out, f"original/masks/{edit['dataset']}/{edit['mask_id']}")
                if mask.get("mask_path") else "",
                "ratio": _text(mask.get("area_ratio")), "perturbed_mask_name": _text(edit["prompt"] if inpainting else None),
                "sem_magnitude": _text(edit["magnitude"]),
                "language_model": _text(prompts.get(edit["request_id"], {}).get("model_ref")
                                        or prompts.get(edit["request_id"], {}).get("backend")),
                **{c: _text(v) for c, v in values.items()},
                **{c: _text(merged.get(ours)) for c, ours in CATEGORIES},
                "scene_diversity": _text(scene.get("scene_diversity")), "scene_complexity": _text(scene.get("scene_complexity")),
                "scene_diversity_category": _text(scene.get("scene_diversity_bin")),
                "scene_complexity_category": _text(scene.get("scene_complexity_bin")),
                "random_weights": _text(edit["random_weights"]), "generation_id": gid,
                "instruction": _text(edit["prompt"] if edit["method"] == "instruction" else None),
                "mask_source": _text(mask.get("mask_source")), "segmenter": _text(mask.get("segmenter")),
            })
    with open(out / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, restval="")
        writer.writeheader()
        writer.writerows(rows)
    counts = {"real": sum(r["label"] == "real" for r in rows), "fake": sum(r["label"] == "fake" for r in rows),
              "random_weights": random_weights, "only_salient": only_salient, "code_version": code_version(),
              "created_at": utc_now().isoformat()}
    note = ("RANDOM WEIGHTS: these edits were made by random-weight models; they are noise, for plumbing only.\n\n"
            if random_weights else "")
    (out / "EXPORT.md").write_text(f"{note}Exported by semitruths-dagster in the released evaluation set's layout.\n\n"
                                   f"```json\n{json.dumps(counts, indent=2)}\n```\n")
    return counts
