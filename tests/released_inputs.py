"""A local copy of a released-format Semi-Truths evaluation set, built from the shared real sample.

The ten shared images are the real rows; each gets three edits (two inpainting models, one p2p), made
here by recolouring the mask region or shifting the whole image. The csv keeps the release's quirks:
numbers as text with spaces or exponents, empty cells and 'nan', five-level `*_category` bins in mixed
case, one unknown bin level and one unreadable number. Seven more rows each break one rule.
"""

from __future__ import annotations

import csv
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from semitruths_dagster.sources.standardized import parse_list

HEADER = ["image_id", "image_path", "dataset", "entities", "class", "label", "mask_id", "mask_path", "mask_name",
          "ratio", "method", "model", "perturbed_mask_name", "sem_magnitude", "cap2_img2", "direct_sim",
          "language_model", "quality_flag", "dreamsim", "lpips_score", "sen_sim", "clip_sim", "mse_rgb", "mse_gray",
          "ssim_rgb", "ssim_gray", "ratio_rgb", "ratio_gray", "largest_component_size_rgb", "cc_cluters_rgb",
          "cluster_dist_rgb", "ratio_category", "mse_rgb_category", "ssim_rgb_category", "lpips_score_category",
          "sen_sim_category", "dreamsim_category", "ratio_rgb_category", "scene_diversity", "scene_complexity",
          "scene_diversity_category", "scene_complexity_category"]
EDITS = [("inpainting", "StableDiffusion_v5"), ("inpainting", "Kandinsky_2_2"), ("p2p", "OpenJourney")]
LEVELS5 = ["very small", "Small", "medium", "LARGE", "Very_Large"]


@dataclass
class ReleasedSet:
    root: Path
    n_real: int = 0
    edits: dict[str, dict] = field(default_factory=dict)  # image_path -> the fields written
    broken: dict[str, str] = field(default_factory=dict)  # image_path or id -> the rule it breaks
    unreadable: dict[str, str] = field(default_factory=dict)  # image_path -> the column with a bad cell
    bad_mask: str = ""  # image_path of the edit whose mask file is missing


def _text(value: float, style: int) -> str:
    return [f"{value:.6f}", f" {value:.4f} ", f"{value:.3e}"][style % 3]


def make_released_set(root: Path, sample: Path) -> ReleasedSet:
    """Write the files and metadata.csv under `root`."""
    if root.exists():
        shutil.rmtree(root)
    out = ReleasedSet(root)
    rng = np.random.default_rng(7)
    rows = []
    with open(sample / "metadata.csv", newline="") as fh:
        originals = list(csv.DictReader(fh))
    for k, o in enumerate(originals):
        for rel in (o["image_path"], o["mask_path"]):
            target = root / "original" / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(sample / rel, target)
        base = {"image_id": o["image_id"], "dataset": o["dataset"], "entities": o["entities"], "class": o["class"],
                "mask_id": o["mask_id"], "mask_path": f"original/{o['mask_path']}", "mask_name": o["mask_name"],
                "ratio": o["ratio"], "scene_diversity": str(len(set(parse_list(o["entities"])))),
                "scene_complexity": "", "scene_diversity_category": ["small", "Medium", "large"][k % 3],
                "scene_complexity_category": ""}
        rows.append(base | {"image_path": f"original/{o['image_path']}", "label": "real"})
        out.n_real += 1
        image = np.asarray(Image.open(sample / o["image_path"]).convert("RGB"))
        mask = np.asarray(Image.open(sample / o["mask_path"]).convert("L")) > 127
        for j, (method, model) in enumerate(EDITS):
            edited = image.copy()
            if method == "inpainting":
                edited[mask] = (edited[mask].astype(int) + 90 * (j + 1)) % 256
            else:
                edited = np.roll(edited, 3, axis=1)
            folder = "inpainting" if method == "inpainting" else "prompt-based-editing"
            path = f"{folder}/{o['dataset']}/{model}/{o['image_id']}_{j}.png"
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(edited).save(root / path)
            values = {c: float(rng.uniform(0.01, 0.9)) for c in ("cap2_img2", "direct_sim", "dreamsim", "lpips_score",
                                                                  "sen_sim", "clip_sim", "mse_rgb", "mse_gray",
                                                                  "ssim_rgb", "ssim_gray", "ratio_rgb", "ratio_gray",
                                                                  )}
            # The original's units: the count includes the background, the largest component is in pixels,
            # the spread is -1 with fewer than two components.
            values["cc_cluters_rgb"] = float(rng.integers(1, 9))
            values["largest_component_size_rgb"] = float(rng.integers(0, 5000)) if values["cc_cluters_rgb"] > 1 else 0.0
            values["cluster_dist_rgb"] = float(rng.uniform(5, 400)) if values["cc_cluters_rgb"] > 2 else -1.0
            row = base | {"image_path": path, "label": "fake", "method": method, "model": model,
                          "perturbed_mask_name": f"{o['mask_name']} {j}", "sem_magnitude": ["small", "medium",
                                                                                              "Large"][j],
                          "language_model": "LLaVA-Mistral-7B", "quality_flag": "",
                          **{c: _text(v, k + j) for c, v in values.items()}}
            for n, column in enumerate(c for c in HEADER if c.endswith("_category") and not c.startswith("scene")):
                row[column] = LEVELS5[(k + j + n) % 5]
            if k == 0 and j == 0:
                row["dreamsim"], row["lpips_score"] = "nan", ""  # missing values are allowed
                values["dreamsim"] = values["lpips_score"] = None
            if k == 1 and j == 0:
                row["mse_rgb"] = "n/a!"
                values["mse_rgb"] = None
                out.unreadable[path] = "mse_rgb"
            if k == 2 and j == 1:
                row["ratio_category"] = "huge"
                out.unreadable[path] = "ratio_category"
            if k == 3 and j == 0:
                row["mask_path"] = "original/masks/not-there.png"
                out.bad_mask = path
            rows.append(row)
            out.edits[path] = row | {"values": values}
    first = rows[1]
    broken = [
        (first | {"image_path": "inpainting/ADE20K/x/missing.png"}, "file_exists"),
        (first | {"image_path": "../outside.png"}, "path_inside_root"),
        (first | {"image_path": "inpainting/ADE20K/x/odd.png", "label": "maybe"}, "label_value"),
        (first | {"image_path": "inpainting/ADE20K/x/out.png", "method": "outpainting"}, "method_value"),
        (first, "duplicate_image_path"),
        (first | {"image_path": ""}, "required_field"),
    ]
    for row, rule in broken:
        rows.append(row)
        out.broken[row["image_path"] or "(empty)"] = rule
    with open(root / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        fh.write("a_short_row,with,three_fields\n")  # breaks csv_row_shape (a real row's stage: source_images)
    out.broken["(short row)"] = "csv_row_shape"
    return out
