"""Benchmark of importing a released-format evaluation set at the release's scale (~87,000 rows).

    .venv/bin/python benchmarks/released.py [--reals 27000] [--edits 60000] [--files 500] [--workers 4]

Writes a synthetic set into a temp folder: `--files` distinct 512x512 PNGs, linked under as many paths
as the csv has rows (every row decodes and hashes its image; the content-addressed store keeps one
copy per distinct file), a metadata.csv with every released column as text. Times the csv parse, the
listing of real images, the import of the edits (decode, hash, store, chunked commit) and the
evaluation's attribute frame (released bins and localization over every edit). Prints a table of wall
seconds, rows per second and the process's peak resident memory so far.
"""

from __future__ import annotations

import argparse
import csv
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from semitruths_dagster.config import SourceConfig  # noqa: E402
from semitruths_dagster.evaluation.stage import attribute_frame  # noqa: E402
from semitruths_dagster.sources import released_stage  # noqa: E402
from semitruths_dagster.sources.released import list_released, parse_released  # noqa: E402
from semitruths_dagster.sources.released_stage import SCHEMA, TABLE, build_edits  # noqa: E402
from semitruths_dagster.storage import ImageStore, TableStore  # noqa: E402
from semitruths_dagster.storage.resumable import ResumablePartition  # noqa: E402
from semitruths_dagster.validation import open_decoded  # noqa: E402

METRICS = ["cap2_img2", "direct_sim", "dreamsim", "lpips_score", "sen_sim", "clip_sim", "mse_rgb", "mse_gray",
           "ssim_rgb", "ssim_gray", "ratio_rgb", "ratio_gray", "largest_component_size_rgb", "cc_cluters_rgb",
           "cluster_dist_rgb"]
CATEGORIES = ["ratio_category", "mse_rgb_category", "ssim_rgb_category", "lpips_score_category",
              "sen_sim_category", "dreamsim_category", "ratio_rgb_category"]
HEADER = ["image_id", "image_path", "dataset", "entities", "class", "label", "mask_id", "mask_path", "mask_name",
          "ratio", "method", "model", "perturbed_mask_name", "sem_magnitude", "language_model", "quality_flag",
          *METRICS, *CATEGORIES, "scene_diversity", "scene_complexity", "scene_diversity_category",
          "scene_complexity_category"]
MODELS = ["Kandinsky_2_2", "OpenJourney", "StableDiffusion_XL", "StableDiffusion_v4", "StableDiffusion_v5"]
DATASETS = ["ADE20K", "CelebAHQ", "CityScapes", "HumanParsing", "OpenImages", "SUN_RGBD"]
LEVELS = ["very small", "small", "medium", "large", "very large"]


def write_set(root: Path, reals: int, edits: int, files: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    pool = root / "pool"
    pool.mkdir(parents=True)
    for i in range(files):
        image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        Image.fromarray(image).resize((512, 512), Image.BILINEAR).save(pool / f"{i}.png", compress_level=1)
    Image.fromarray(np.pad(np.full((200, 200), 255, np.uint8), 156)).save(pool / "mask.png")
    rows = []
    for i in range(reals + edits):
        real = i < reals
        image_id = f"img{i % reals:06d}"
        folder = "original/images" if real else f"inpainting/{DATASETS[i % 6]}/{MODELS[i % 5]}"
        path = f"{folder}/{i:06d}.png"
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(pool / f"{i % files}.png", root / path)
        row = {"image_id": image_id, "image_path": path, "dataset": DATASETS[i % 6], "entities": "['sky', 'tree']",
               "class": "tree", "label": "real" if real else "fake", "mask_id": f"{image_id}_m",
               "mask_path": "pool/mask.png", "mask_name": "tree", "ratio": "0.152"}
        if not real:
            row |= {"method": "inpainting", "model": MODELS[i % 5], "perturbed_mask_name": "bush",
                    "sem_magnitude": ["small", "medium", "large"][i % 3], "language_model": "LLaVA-Mistral-7B",
                    **{m: f"{v:.6f}" for m, v in zip(METRICS, rng.uniform(0, 1, len(METRICS)), strict=True)},
                    **{c: LEVELS[(i + k) % 5] for k, c in enumerate(CATEGORIES)}}
        rows.append(row)
    with open(root / "metadata.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)


def decoded_rgb(path: Path):
    """The check the import made before: decode every pixel with PIL, then read the bytes (the set's
    images are all RGB, so the mode check is left out)."""
    return open_decoded(path), path.read_bytes()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reals", type=int, default=27000)
    parser.add_argument("--edits", type=int, default=60000)
    parser.add_argument("--files", type=int, default=500)
    parser.add_argument("--workers", type=int, default=4, help="threads of the baseline (before)")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1, help="processes (now; default: cores)")
    args = parser.parse_args()
    lines = []
    with tempfile.TemporaryDirectory(prefix="released-bench-") as tmp:
        root = Path(tmp) / "evalset"
        started = time.perf_counter()
        write_set(root, args.reals, args.edits, args.files)
        print(f"wrote {args.reals + args.edits} rows ({args.files} distinct images) in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        source = SourceConfig(name="evalset", adapter="released", root=root)

        def step(name: str, rows: int, fn):
            t0 = time.perf_counter()
            out = fn()
            seconds = time.perf_counter() - t0
            lines.append((name, rows, seconds, rows / seconds, peak_mib()))
            print(f"{name}: {seconds:.1f} s", flush=True)
            return out

        table = step("parse metadata.csv", args.reals + args.edits, lambda: parse_released(source))
        step("list real images", args.reals, lambda: list_released(source))
        frames = {}

        def run_import(label: str, executor: str, workers: int):
            tables = TableStore(Path(tmp) / f"tables-{len(frames)}")
            store = ImageStore(Path(tmp) / f"images-{len(frames)}")
            target = ResumablePartition(tables, TABLE, {"dataset": "evalset"}, "generation_id", SCHEMA)
            step(f"import edits, {label}", args.edits,
                 lambda: build_edits(table, "evalset", store, set(), target.write_chunk, workers=workers,
                                     executor=executor))
            frames[label] = target

        with mock.patch.object(released_stage, "verified_rgb", decoded_rgb):  # in-process: threads only
            run_import(f"{args.workers} threads, full decode (before)", "thread", args.workers)
        run_import(f"{args.workers} threads, verify_png", "thread", args.workers)
        now = f"{args.processes} processes, verify_png"
        run_import(now, "process", args.processes)
        edits = step("fold chunks into the partition", args.edits, frames.pop(now).finalize)
        same = all(edits.drop("created_at").sort("generation_id").equals(
            other.finalize().drop("created_at").sort("generation_id")) for other in frames.values())
        import polars as pl

        predictions = edits.select("generation_id", "image_id", "dataset").with_columns(
            label=pl.lit(1, pl.Int8), score=pl.lit(0.5))
        step("attribute frame (bins, localization)", args.edits,
             lambda: attribute_frame(predictions, pl.DataFrame(), pl.DataFrame(), pl.DataFrame(), edits))
    print("\n| step | rows | seconds | rows/s | peak RSS MiB |\n|---|---:|---:|---:|---:|")
    for name, rows, seconds, rate, mib in lines:
        print(f"| {name} | {rows} | {seconds:.2f} | {rate:,.0f} | {mib:,.0f} |")
    rates = [rate for name, _r, _s, rate, _m in lines if name.startswith("import edits")]
    before, now = rates[0], rates[-1]
    print(f"\nnow vs before: {now / before:.2f}x edits/s (target >= 1.7x: {'PASS' if now / before >= 1.7 else 'FAIL'});"
          f" vs the 211 edits/s the issue measured: {now / 211:.2f}x; same rows in all three: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
