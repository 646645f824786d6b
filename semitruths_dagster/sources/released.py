"""The released Semi-Truths evaluation set (`semi-truths/Semi-Truths-Evalset`): `metadata.csv` + image folders.

One csv row per image, keyed by image_path: `label` real or fake; fakes name their `method`
(inpainting / p2p), `model` (Kandinsky_2_2, OpenJourney, StableDiffusion_XL, StableDiffusion_v4,
StableDiffusion_v5), the perturbed label, the semantic magnitude, their change metrics and `*_category`
bins. A fake row's `image_id` is its original's, so it pairs with the real row of that id. Numbers may be
stored as text and cells may be empty: an unreadable number becomes null and is noted on the row, while
a row that cannot be used at all (no path, unknown label or method) is rejected with its rule and line.

Real rows are the source's images (through `source_images`, like any source: `list_released`); fake
rows become `released_edits` (`parse_released` + `edit_row`), taken as given: nothing is regenerated
or re-measured.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from ..config import SourceConfig
from ..metrics.bins import LEVELS
from .base import ImageEntry, MaskEntry, Rejection, SourceListing
from .standardized import METADATA_FILE, SourceError, parse_list, read_rows

STAGE_IMAGES = "source_images"
STAGE_EDITS = "released_edits"
REQUIRED_COLUMNS = ("image_id", "image_path", "label")

LABELS = {"real": 0, "fake": 1, "0": 0, "1": 1}
METHODS = {"inpainting": "inpainting", "p2p": "p2p", "prompt-based-editing": "p2p", "prompt_based_editing": "p2p",
           "instruction": "instruction"}  # instruction: this project's third method (not in the release)
# Released metric columns -> this project's metric names (the `change_metrics` / saliency columns).
METRICS = {
    "ratio": "area_ratio", "ratio_rgb": "post_edit_ratio", "ratio_gray": "post_edit_ratio_gray",
    "mse_rgb": "mse", "mse_gray": "mse_gray", "ssim_rgb": "ssim", "ssim_gray": "ssim_gray",
    "lpips_score": "lpips", "dreamsim": "dreamsim", "sen_sim": "sentence_similarity",
    # the release's saliency scores came from the original code (its CLIP, its directional formula)
    "clip_sim": "clip_image_sim_original", "direct_sim": "directional_sim_original",
    "cap2_img2": "clip_edit_text_sim_original",
    "cc_cluters_rgb": "n_components", "cc_clusters_rgb": "n_components", "cc_clusters_gray": "n_components_gray",
    "largest_component_size_rgb": "largest_component_ratio",
    "largest_component_size_gray": "largest_component_ratio_gray",
    "cluster_dist_rgb": "max_centroid_distance", "cluster_dist_gray": "max_centroid_distance_gray",
    "scene_diversity": "scene_diversity", "scene_complexity": "scene_complexity",
}
# Component columns as the original computed them (OpenCV connectedComponentsWithStats on the edit resized
# to its original): the count includes the background label, the largest size is in pixels (background
# excluded, 0 with no component) and the centroid spread is -1 with fewer than two components. This
# project counts components without the background, stores the largest one as a share of the image and
# the spread as 0 with fewer than two: `from_released_units` / `to_released_units` convert, one place.
COMPONENT_SUFFIXES = ("", "_gray")


def from_released_units(values: dict[str, float | None], width: int, height: int) -> dict[str, float | None]:
    """Released component values (this project's names, the original's units) -> this project's units."""
    out = dict(values)
    for sfx in COMPONENT_SUFFIXES:
        count = out.get(f"n_components{sfx}")
        if count is not None:
            out[f"n_components{sfx}"] = max(count - 1.0, 0.0)  # drop the background label
        largest = out.get(f"largest_component_ratio{sfx}")
        if largest is not None:
            out[f"largest_component_ratio{sfx}"] = largest / float(width * height)  # pixels -> share
        spread = out.get(f"max_centroid_distance{sfx}")
        if spread is not None and spread < 0:
            out[f"max_centroid_distance{sfx}"] = 0.0  # -1: fewer than two components
    return out


def to_released_units(values: dict[str, float | None], width: int, height: int) -> dict[str, float | None]:
    """Inverse of `from_released_units`: this project's component values in the original's units."""
    out = dict(values)
    for sfx in COMPONENT_SUFFIXES:
        count = out.get(f"n_components{sfx}")
        if count is not None:
            out[f"n_components{sfx}"] = count + 1  # the original counted the background
        largest = out.get(f"largest_component_ratio{sfx}")
        if largest is not None:
            out[f"largest_component_ratio{sfx}"] = float(round(largest * width * height))  # share -> pixels
        spread = out.get(f"max_centroid_distance{sfx}")
        if spread is not None and count is not None and count < 2:
            out[f"max_centroid_distance{sfx}"] = -1.0
    return out


# The released similarity columns stored a distance, 1 - max(cos, 0): kept here as the similarity.
STORED_AS_DISTANCE = {"sen_sim"}
# Metrics whose released `<column>_category` is kept as a bin; scene bins are 3-level by definition.
BINNED = ("area_ratio", "post_edit_ratio", "mse", "ssim", "lpips", "dreamsim", "sentence_similarity")
SCENE = ("scene_diversity", "scene_complexity")
LEVELS3, LEVELS5 = LEVELS[3], LEVELS[5]
_MISSING = {"", "nan", "none", "null", "na", "n/a"}


class ReleasedFormatError(SourceError):
    """The released csv as a whole cannot be read (no file, missing columns)."""


@dataclass
class ReleasedRow:
    line: int
    fields: dict[str, str]
    label: int


@dataclass
class ReleasedTable:
    """The csv, parsed: usable rows (real and fake) and the rows rejected with their rule."""

    source: str
    root: Path
    csv_path: Path
    header: list[str]
    rows: list[ReleasedRow]
    rejections: list[Rejection] = field(default_factory=list)
    category_columns: dict[str, str] = field(default_factory=dict)  # released column -> our bin column
    generators: dict[str, str] = field(default_factory=dict)  # released model, lower-cased -> our generator

    @property
    def fakes(self) -> list[ReleasedRow]:
        return [r for r in self.rows if r.label == 1]

    @property
    def reals(self) -> list[ReleasedRow]:
        return [r for r in self.rows if r.label == 0]


@cache
def released_models() -> dict[str, str]:
    """The released model names -> this project's generator names, from the generator registry (models
    the release does not have are written under this project's name; other names are kept, lower-cased).
    Imported on first use: the generation package imports torch, which import workers never need."""
    from ..generation.registry import GENERATORS

    return {spec.released_name: name for name, spec in GENERATORS.items()}


def token(text: str | None) -> str:
    """'Very Small' / 'very-small' / ' very_small ' -> 'very_small'."""
    return re.sub(r"[\s\-]+", "_", (text or "").strip().lower())


def parse_number(text: str | None) -> tuple[float | None, bool]:
    """(value, ok): blanks and NaN are (None, True); text that is no number is (None, False)."""
    cleaned = (text or "").strip()
    if cleaned.lower() in _MISSING:
        return None, True
    try:
        value = float(cleaned)
    except ValueError:
        return None, False
    return (value if math.isfinite(value) else None), True


def _category_columns(header: list[str], rows: list[dict[str, str]]) -> dict[str, str]:
    """Released `<column>_category` -> our bin column: `<metric>_bin5` when the file uses the five
    levels of the released data anywhere in that column, else `<metric>_bin` (three levels)."""
    out = {}
    for column in header:
        if not column.endswith("_category"):
            continue
        metric = METRICS.get(column.removesuffix("_category"))
        if metric in SCENE:
            out[column] = f"{metric}_bin"
        elif metric in BINNED:
            five = any(token(r.get(column)) in ("very_small", "very_large") for r in rows)
            out[column] = f"{metric}_bin5" if five else f"{metric}_bin"
    return out


def parse_released(source: SourceConfig, root: Path | None = None) -> ReleasedTable:
    """Read `<root>/metadata.csv`; rows that break a rule become rejections of the stage they feed."""
    root = Path(root or source.root or "")
    csv_path = root / str(source.options.get("metadata", METADATA_FILE))
    if not csv_path.is_file():
        raise ReleasedFormatError(f"source '{source.name}': {csv_path} not found (the released layout needs it)")
    table = ReleasedTable(source.name, root.resolve(), csv_path, [], [],
                          generators={released.lower(): ours for released, ours in released_models().items()})

    def bad_shape(line: int, message: str) -> None:
        table.rejections.append(Rejection(STAGE_IMAGES, source.name, None, str(csv_path), "csv_row_shape", message, line))

    try:
        parsed = list(read_rows(csv_path, REQUIRED_COLUMNS, bad_shape))
    except SourceError as exc:
        raise ReleasedFormatError(str(exc)) from None
    table.header = header = list(parsed[0][1]) if parsed else []
    table.category_columns = _category_columns(header, [f for _, f in parsed])
    seen_paths: set[str] = set()
    for line, row in parsed:
        if source.dataset and row.get("dataset", source.dataset) != source.dataset:
            continue
        label = LABELS.get(token(row["label"]))
        stage = STAGE_EDITS if label == 1 else STAGE_IMAGES

        def reject(rule: str, message: str, stage: str = stage, row: dict = row, line: int = line) -> None:
            item = row.get("image_path") or row.get("image_id") or None
            table.rejections.append(Rejection(stage, source.name, item, str(csv_path), rule, message, line))

        empty = [c for c in REQUIRED_COLUMNS if not row[c]]
        if empty:
            reject("required_field", f"empty {empty}")
        elif label is None:
            reject("label_value", f"label '{row['label']}' is neither real nor fake", STAGE_EDITS)
        elif label == 1 and METHODS.get(token(row.get("method"))) is None:
            reject("method_value", f"method '{row.get('method', '')}' is not one of {', '.join(sorted(set(METHODS.values())))}")
        elif label == 1 and not row.get("model"):
            reject("required_field", "a fake row needs its model")
        elif label == 1 and row["image_path"] in seen_paths:
            reject("duplicate_image_path", f"image_path {row['image_path']} listed twice")
        else:
            if label == 1:
                seen_paths.add(row["image_path"])
            table.rows.append(ReleasedRow(line, row, label))
    return table


def list_released(source: SourceConfig, storage_root: Path | None = None) -> SourceListing:
    """The real images, each with the masks its rows (real or fake) name, for `source_images`/`masks`."""
    table = parse_released(source)
    images: dict[str, ImageEntry] = {}
    rejections = [r for r in table.rejections if r.stage == STAGE_IMAGES]
    for r in table.reals:
        row = r.fields
        try:
            entities, classes = parse_list(row.get("entities")), parse_list(row.get("class"))
        except (ValueError, SyntaxError) as exc:
            rejections.append(Rejection(STAGE_IMAGES, source.name, row["image_id"], str(table.csv_path),
                                        "list_format", f"entities/class not a list of strings: {exc}", r.line))
            continue
        image = images.get(row["image_id"])
        if image is None:
            images[row["image_id"]] = ImageEntry(row["image_id"], source.name, row.get("dataset") or source.name,
                                                 row["image_path"], entities, classes, line=r.line)
        elif image.path != row["image_path"]:
            rejections.append(Rejection(STAGE_IMAGES, source.name, row["image_id"], str(table.csv_path),
                                        "image_id_conflict",
                                        f"image_id {row['image_id']} names {row['image_path']}, earlier {image.path}",
                                        r.line))
    seen_masks: set[str] = set()
    for r in table.rows:  # masks named by real rows first, then by the edits made from them
        row = r.fields
        image = images.get(row["image_id"])
        mask_id, mask_path = row.get("mask_id"), row.get("mask_path")
        if image is None or not mask_id or not mask_path or mask_id in seen_masks:
            continue
        seen_masks.add(mask_id)
        ratio, _ = parse_number(row.get("ratio"))
        image.masks.append(MaskEntry(mask_id, row.get("mask_name", ""), mask_path, ratio, r.line))
    return SourceListing(root=table.root, images=list(images.values()), rejections=rejections)


def generation_id(source: str, image_path: str) -> str:
    """Stable id of a released edit: its source and path (the csv's key)."""
    return "released-" + hashlib.sha256(f"{source}|{image_path}".encode()).hexdigest()[:20]


def edit_ids(table: ReleasedTable) -> set[str]:
    """The generation ids of every usable fake row."""
    return {generation_id(table.source, r.fields["image_path"]) for r in table.fakes}


def edit_fields(table: ReleasedTable, r: ReleasedRow) -> tuple[dict, list[str]]:
    """The given attributes of one fake row in this project's names, and the cells that were unreadable."""
    row, issues = r.fields, []
    values: dict[str, float | None] = {}
    for column, metric in METRICS.items():
        if column not in row or (metric in values and values[metric] is not None):
            continue
        value, ok = parse_number(row[column])
        if not ok:
            issues.append(f"{column}: '{row[column]}' is not a number")
        if value is not None and column in STORED_AS_DISTANCE:
            value = 1.0 - value  # back to the similarity (exact where the cosine was >= 0)
        values[metric] = value
    bins: dict[str, str | None] = {}
    for column, bin_column in table.category_columns.items():
        level = token(row.get(column))
        allowed = LEVELS5 if bin_column.endswith("_bin5") else LEVELS3
        if level and level not in allowed:
            issues.append(f"{column}: '{row[column]}' is not one of {', '.join(allowed)}")
        bins[bin_column] = level if level in allowed else None
    magnitude = token(row.get("sem_magnitude")) or None
    if magnitude and magnitude not in LEVELS3:
        issues.append(f"sem_magnitude: '{row['sem_magnitude']}' is not one of small, medium, large")
        magnitude = None
    method = METHODS[token(row["method"])]
    return {
        "generation_id": generation_id(table.source, row["image_path"]),
        "image_id": row["image_id"], "mask_id": row.get("mask_id") or None, "method": method,
        "generator": table.generators.get(token(row["model"]), token(row["model"])), "released_model": row["model"],
        "magnitude": magnitude,
        "original_text": (row.get("mask_name") or None) if method == "inpainting" else None,
        "prompt": (row.get("perturbed_mask_name") or None) if method == "inpainting"
        else (row.get("instruction") or None) if method == "instruction" else None,
        "language_model": row.get("language_model") or None, "quality_flag": row.get("quality_flag") or None,
        "random_weights": {"true": True, "false": False}.get(token(row.get("random_weights"))),
        "released_path": row["image_path"], "released_line": r.line,
        "released_row": json.dumps(row, sort_keys=True), **values, **bins,
    }, issues
