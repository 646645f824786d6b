"""The `localization_evaluation` stage entry: one detector's maps (every dataset) scored, summarized,
written as a result JSON and a report section under `<storage>/reports/<detector>/localization/`."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ..evaluation.columns import LOCALIZATION_DIR
from ..evaluation.stage import attribute_frame
from ..provenance import code_version, utc_now
from ..sections import LocalizationParams
from ..sources.released_stage import TABLE as RELEASED_TABLE
from ..storage import ImageStore, TableStore
from ..storage.location import write_text
from .evaluate import evaluate_maps
from .report import gallery, section_html
from .stage import SCHEMA as PREDICTIONS_SCHEMA
from .stage import TABLE as PREDICTIONS_TABLE
from .truth import EDIT_MASK, POST_EDIT_MASK, truth_table

TABLE = "localization_evaluation"
DIR = LOCALIZATION_DIR  # where the leaderboard's localization columns read the result
_PER_TRUTH = ("f1", "iou", "mcc", "f1_best", "iou_best", "auroc")
SCHEMA: dict[str, pl.DataType] = {
    "detector": pl.Utf8, "detector_version": pl.Utf8, "random_weights": pl.Boolean, "map_source": pl.Utf8,
    "n_maps": pl.Int64, "n_edits": pl.Int64, "n_reals": pl.Int64, "threshold": pl.Float64,
    **{f"{t}_{m}": pl.Float64 for t in (EDIT_MASK, POST_EDIT_MASK) for m in (*_PER_TRUTH, "pooled_auroc")},
    "false_alarm_area": pl.Float64, "image_auroc_map_max": pl.Float64, "image_auroc_own_score": pl.Float64,
    "result_path": pl.Utf8, "section_path": pl.Utf8, "code_version": pl.Utf8, "created_at": pl.Datetime("us", "UTC"),
}


def evaluate_detector(tables: TableStore, store: ImageStore, detector: str, params: LocalizationParams,
                      n_boot: int, seed: int, out_dir: Path) -> tuple[dict, dict, str]:
    """(row of `localization_evaluation`, result, report section HTML) of one detector's maps."""
    every = tables.read_all(PREDICTIONS_TABLE)
    maps = every.filter(pl.col("detector") == detector) if every.height else pl.DataFrame(schema=PREDICTIONS_SCHEMA)
    generations, released = tables.read_all("generations"), tables.read_all(RELEASED_TABLE)
    masks, change = tables.read_all("masks"), tables.read_all("change_metrics")
    edits = [f.select([c for c in ("generation_id", "method", "mask_id", "mask_path") if c in f.columns])
             for f in (generations, released) if f.height]
    truths = truth_table(pl.concat(edits, how="diagonal_relaxed"), masks, change) if edits else {}
    attributes = None
    if maps.height:
        attributes = attribute_frame(maps.select("row_key", "generation_id", "image_id", "dataset"), generations,
                                     tables.read_all("bins"), masks, released).drop("generation_id", "image_id")
    measured, result = evaluate_maps(maps, truths, attributes, store, params.threshold, n_boot, seed)
    sources = sorted(set(maps["map_source"].to_list())) if maps.height else []
    random = bool(maps["random_weights"].any()) if maps.height else False
    images = tables.read_all("source_images")
    originals = dict(zip(images["image_id"], images["image_path"], strict=False)) if images.height else {}
    html = section_html(detector, random, result, params.threshold, sources,
                        gallery(maps, originals, truths, store, params.gallery, seed) if maps.height else "")
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / "result.json", json.dumps(result, indent=1, default=str))
    write_text(out_dir / "section.html", html)
    row = {"detector": detector, "detector_version": maps["detector_version"][0] if maps.height else None,
           "random_weights": random, "map_source": ",".join(sources) or None, "n_maps": result["n_maps"],
           "n_edits": result["n_edits"], "n_reals": result["n_reals"], "threshold": params.threshold,
           "false_alarm_area": result["false_alarm"]["mean"], "image_auroc_map_max": result["image_auroc_map_max"],
           "image_auroc_own_score": result["image_auroc_own_score"], "result_path": str(out_dir / "result.json"),
           "section_path": str(out_dir / "section.html"), "code_version": code_version(), "created_at": utc_now()}
    for kind in (EDIT_MASK, POST_EDIT_MASK):
        entry = result["truths"].get(kind, {})
        for m in _PER_TRUTH:
            row[f"{kind}_{m}"] = entry.get("metrics", {}).get(m, {}).get("mean")
        row[f"{kind}_pooled_auroc"] = entry.get("pooled_auroc")
    return row, result, html
